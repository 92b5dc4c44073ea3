"""One training loop you can hold in your head (nanoGPT is the model): ``fit(model, data, recipe, hooks)``.

Used by every arm that trains — zoo pretraining, fine-tuning (every strategy) and the from-scratch baseline — so the
comparisons differ only in what the strategy decides: the initial weights, which parameters train, at which rates.
A fixed step budget, AdamW (no weight decay on norms and biases, timm's rule), timm's warmup + cosine schedule,
augmentation by policy (``recipe.augment``: glyph, photo or none; ``data.augment``).

**Data.** ``FitData.train``/``val`` are datasets from ``graftline.data.dataset``: images stream from disk through
``DataLoader`` workers when a split is too large to keep, so memory does not grow with the data set. The data order
is a pure function of (seed, step) (``sampler.StepSampler``).

**Epochs.** The loop counts optimizer steps; an *epoch* is a block of ``eval_every`` steps. At each epoch's end it
evaluates on the validation split, logs a row (``hooks.on_eval``), writes the checkpoint and checks early stopping;
``hooks.on_epoch_start`` acts at epoch starts. A pass over the data is not the unit because it means nothing at both
ends: the embedded default has 30 training images (one batch), a user's set may have millions.

**Resume.** With ``hooks.checkpoint`` the loop writes model, optimizer, RNG state and the history at every epoch end
(atomically), and on start continues from that file if its fingerprint matches. A run killed at any point and re-run
ends with the same weights, bit for bit on CPU, as one that was never interrupted.

The model ends on its last step; with ``keep_best`` on the best validation checkpoint instead — with a few labelled
validation images per class that choice follows noise (measured: it kept step 25 of 300 and lost 8 test points), so
it is off by default. Early stopping (``patience`` epochs without a better val accuracy) is on by default where the
validation split has ``finetune.min_val_images`` images (train/finetune.py decides, the same rule for both arms;
the measurement behind the defaults: docs/guide/verdict.md#budgets).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from graftline.data import augment
from graftline.errors import ModelError
from graftline.eval.logits import accuracy, channels_last_pays, device_of, prep
from graftline.train import checkpoint as ckpt
from graftline.train import distributed as dist
from graftline.train.optim import (deterministic, freeze_bn_of_frozen, make_optimizer, make_scheduler,
                                   resolve_device)
from graftline.train.recipe import FitResult, Hooks, Recipe
from graftline.train.sampler import StepSampler, step_generator


@dataclass
class FitData:
    """What a run trains on: datasets (``take``/``__getitem__``/``labels``) and the normalisation (None: none)."""

    train: Any
    val: Any = None
    mean: Any = None
    std: Any = None


def _stream(data, sampler: StepSampler, start: int, stop: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This process's (x, y) for steps ``start..stop-1``: decoded here, or by DataLoader workers."""
    workers = getattr(data, "workers", 0)
    if not workers:
        for step in range(start, stop):
            yield data.take(sampler.indices(step))
        return
    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler.batches(start, stop), num_workers=workers,
                                         prefetch_factor=4, persistent_workers=False)
    yield from loader


def _channels_last(train, dev: torch.device) -> bool:
    """channels_last on CUDA, and on CPU for images of 64x64 px and more (eval/logits.py: measured 1.5x per step)."""
    size = getattr(train, "size", None)
    if size is None and isinstance(getattr(train, "x", None), torch.Tensor) and train.x.dim() == 4:
        size = tuple(train.x.shape[-2:])
    return size is not None and len(size) == 2 and channels_last_pays(tuple(size), dev)


def _restore(state: dict, model, opt, result: FitResult, hooks: Hooks) -> tuple[Any, int]:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    torch.set_rng_state(state["torch_rng"])
    result.history, result.best_val_acc, result.best_step = state["history"], state["best_val_acc"], state["best_step"]
    result.stopped_early, result.resumed_from = state["stopped_early"], state["step"]
    if hooks.on_eval:
        for row in result.history:
            hooks.on_eval(row)
    return state["best_state"], state["bad_epochs"]


def fit(model: torch.nn.Module, data: FitData, recipe: Recipe, hooks: Hooks | None = None) -> FitResult:
    """Train ``model`` in place for ``recipe.steps`` steps (fewer if early stopping fires); see the module doc."""
    from tqdm import tqdm

    hooks = hooks or Hooks()
    dev = resolve_device(recipe.device)
    cuda = dev.type == "cuda"
    home = device_of(model)
    model.to(dev)
    cl = recipe.channels_last and _channels_last(data.train, dev)
    if cl:
        model.to(memory_format=torch.channels_last)
    torch.manual_seed(recipe.seed)
    sampler = StepSampler(len(data.train), recipe.batch_size, recipe.seed, dist.rank(), dist.world_size())
    policy = augment.policy_of(recipe.augment)
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe)
    result, best_state, bad_epochs = FitResult(), None, 0
    state = ckpt.load(hooks.checkpoint, hooks.fingerprint) if hooks.checkpoint is not None else None
    if state is not None:
        best_state, bad_epochs = _restore(state, model, opt, result, hooks)
    start = result.resumed_from
    epoch_len = max(1, recipe.eval_every)
    total = start if result.stopped_early else recipe.steps
    # the loss is summed on the device and read once per epoch: a .item() per step would stall the GPU each step
    ddp, running, seen = None, torch.zeros((), dtype=torch.float64, device=dev), 0
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(total=total, initial=start, desc=hooks.desc, disable=hooks.desc is None or not dist.is_main(),
               mininterval=2.0)
    with deterministic(not cuda):
        for step, (xb, yb) in zip(range(start, total), _stream(data.train, sampler, start, total)):
            if step % epoch_len == 0 or step == start:
                if hooks.on_epoch_start:
                    hooks.on_epoch_start(model, step // epoch_len)
                ddp = dist.wrap(model, ddp, dev)  # re-wrapped only when the set of trained parameters changed
                freeze_bn_of_frozen(model)
            if policy != "none":  # drawn for the global batch: the same draws on any number of processes
                xb = augment.apply(policy, xb, augment.part(
                    augment.draw(policy, recipe.batch_size, step_generator(recipe.seed, step)), sampler.part))
            xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
            if cl and xb.dim() == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            sched.step_update(step)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and recipe.amp):
                loss = F.cross_entropy((ddp or model)(prep(xb, data.mean, data.std)), yb)
            if hooks.penalty is not None:
                loss = loss + hooks.penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(1)
            running += loss.detach().double()
            seen += 1
            last = step + 1 == total
            if (step + 1) % epoch_len and not last:
                continue
            train_loss = running.item() / seen
            if not math.isfinite(train_loss):
                raise ModelError(
                    f"training diverged: the loss is {train_loss} (not finite) in steps {step + 2 - seen}-{step + 1} "
                    f"of {total} at learning rate {recipe.lr}. Fix: lower the learning rate in params.yaml "
                    "(finetune.lr; check.scratch_lr for the baseline; zoo.lr for the zoo), or turn amp off.")
            row = {"step": step + 1, "epoch": (step + epoch_len) // epoch_len, "train_loss": train_loss,
                   "lr": opt.param_groups[-1]["lr"]}
            running.zero_()
            seen = 0
            if data.val is not None and len(data.val):
                row["val_acc"] = accuracy(model, data.val, None, data.mean, data.std)
                if result.best_val_acc is None or row["val_acc"] > result.best_val_acc:
                    result.best_val_acc, result.best_step, bad_epochs = row["val_acc"], step + 1, 0
                    if recipe.keep_best:
                        best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_acc']:.3f}")
                result.stopped_early = dist.agree(bool(recipe.patience) and bad_epochs >= recipe.patience and not last)
            result.history.append(row)
            if hooks.on_eval:
                hooks.on_eval(row)
            if hooks.checkpoint is not None:
                ckpt.save(hooks.checkpoint, hooks.fingerprint, {
                    "step": step + 1, "model": model.state_dict(), "opt": opt.state_dict(),
                    "torch_rng": torch.get_rng_state(), "history": result.history, "best_state": best_state,
                    "bad_epochs": bad_epochs, "best_val_acc": result.best_val_acc, "best_step": result.best_step,
                    "stopped_early": result.stopped_early})
            if result.stopped_early:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    result.steps_done = result.history[-1]["step"] if result.history else start
    result.final_val_acc = result.history[-1].get("val_acc") if result.history else None
    result.kept_step = result.best_step if best_state is not None else result.steps_done
    if cl:
        model.to(memory_format=torch.contiguous_format)
    model.to(home)
    model.eval()
    result.seconds = time.perf_counter() - t0
    return result
