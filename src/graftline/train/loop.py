"""One training loop you can hold in your head (nanoGPT is the model).

Used by every arm that trains — zoo pretraining, fine-tuning and the from-scratch baseline — so that the transfer vs
scratch comparison differs only in the initial weights and the learning rate. A fixed step budget, AdamW (no weight
decay on norms and biases, timm's rule), linear warmup then cosine decay, light geometric augmentation, evaluation on
the validation split every ``eval_every`` steps. The model ends on its last step (cosine decay brings it to rest); with
``keep_best`` it ends on the best validation checkpoint instead — with a few labelled validation images per class
that choice follows noise (measured: it kept step 25 of 300 and lost 8 test points), so it is off by default.

Data are preloaded tensors in [0, 1] (small data; normalisation happens per batch after augmentation).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from graftline.data.images import normalize


@dataclass(frozen=True)
class Recipe:
    steps: int
    batch_size: int
    lr: float
    weight_decay: float = 0.05
    warmup_steps: int = 0
    eval_every: int = 50
    augment: bool = True
    seed: int = 0
    keep_best: bool = False  # end on the best validation checkpoint instead of the last step


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    best_val_acc: float | None = None
    final_val_acc: float | None = None
    kept_step: int = 0  # the step whose weights the model ends with
    seconds: float = 0.0


def augment_batch(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Small random affine maps (rotation ±10°, scale 0.9–1.1, shift ±6 %), border padding.

    timm's default RandomResizedCrop (scale 0.08–1) is far too harsh for 32x32 glyphs.
    """
    n = x.shape[0]
    ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(10)
    scale = 0.9 + torch.rand(n, generator=g) * 0.2
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.12
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, mean, std, batch_size: int = 512) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = [model(normalize(x[i: i + batch_size], mean, std)) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std) -> float:
    if len(y) == 0:
        return float("nan")
    return (predict_logits(model, x, mean, std).argmax(1) == y).float().mean().item()


def warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _batches(n: int, batch_size: int, g: torch.Generator):
    """Endless shuffled index batches: epoch permutations, concatenated (works when n < batch_size)."""
    buf = torch.empty(0, dtype=torch.long)
    while True:
        while len(buf) < batch_size:
            buf = torch.cat([buf, torch.randperm(n, generator=g)])
        yield buf[:batch_size]
        buf = buf[batch_size:]


def fit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: Recipe, mean, std,
        x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
        on_eval: Callable[[dict], None] | None = None, desc: str | None = None) -> FitResult:
    """Train ``model`` in place for ``recipe.steps`` steps; with a validation set, end on its best checkpoint."""
    import time

    from timm.optim import create_optimizer_v2
    from tqdm import tqdm

    torch.manual_seed(recipe.seed)
    g = torch.Generator().manual_seed(recipe.seed)
    opt = create_optimizer_v2(model, "adamw", lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(recipe.warmup_steps, recipe.steps))
    result = FitResult()
    best_state = None
    batches = _batches(len(y), recipe.batch_size, g)
    running, seen = 0.0, 0
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(range(recipe.steps), desc=desc, disable=desc is None, mininterval=2.0)
    for step in bar:
        idx = next(batches)
        xb = x[idx]
        if recipe.augment:
            xb = augment_batch(xb, g)
        loss = F.cross_entropy(model(normalize(xb, mean, std)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        seen += 1
        last = step + 1 == recipe.steps
        if (step + 1) % recipe.eval_every == 0 or last:
            row = {"step": step + 1, "train_loss": running / seen, "lr": opt.param_groups[0]["lr"]}
            running, seen = 0.0, 0
            if x_val is not None and y_val is not None and len(y_val):
                row["val_acc"] = accuracy(model, x_val, y_val, mean, std)
                if result.best_val_acc is None or row["val_acc"] >= result.best_val_acc:
                    result.best_val_acc, result.best_step = row["val_acc"], step + 1
                    if recipe.keep_best:
                        best_state = copy.deepcopy(model.state_dict())
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_acc']:.3f}")
            result.history.append(row)
            if on_eval:
                on_eval(row)
    if best_state is not None:
        model.load_state_dict(best_state)
    result.final_val_acc = result.history[-1].get("val_acc") if result.history else None
    result.kept_step = result.best_step if best_state is not None else recipe.steps
    model.eval()
    result.seconds = time.perf_counter() - t0
    return result
