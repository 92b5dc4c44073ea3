"""Fine-tuning strategies (``finetune.strategy``), each a small function over the one training loop.

- ``linear_probe``: the backbone is frozen (its BatchNorm statistics too); features are extracted once, in eval
  mode, and cached; only the head trains, on the cached features — no backbone forward per step.
- ``full``: every parameter trains.
- ``lp_ft``: a linear probe, then full fine-tuning from that head (Kumar et al., "Fine-Tuning can Distort Pretrained
  Features and Underperform Out-of-Distribution", ICLR 2022): a trained head distorts the features less than a
  fresh one while the body adapts.
- ``discriminative``: full fine-tuning with layer-wise learning-rate decay over timm's layer groups — the head at
  ``lr``, each group below at ``layer_decay`` × the one above (Howard & Ruder, ULMFiT 2018; timm's ``layer_decay``).
- ``progressive``: gradual unfreezing from the head down (ULMFiT): the head alone (``get_classifier()``) for
  ``unfreeze_every`` epochs, then one more of timm's coarse layer groups every ``unfreeze_every`` epochs.

Every strategy gets the same regulariser hook (``penalty``) and the same checkpoint directory. Each registers itself
with ``@register_strategy(name)``; ``finetune.strategy``'s Literal (config/training.py) is checked against
``REGISTRY`` by tests/unit/test_strategies.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from graftline.errors import ConfigError
from graftline.data.dataset import ArrayData
from graftline.eval.logits import batches, prep
from graftline.models.heads import head_param_names
from graftline.train.loop import FitData, fit
from graftline.train.recipe import FitResult, Hooks, Recipe



def layer_groups(model: torch.nn.Module) -> list[list[str]]:
    """timm's coarse layer groups, stem first, head parameters removed (they train from the start)."""
    from timm.models import group_parameters

    head = head_param_names(model)
    groups = group_parameters(model, model.group_matcher(coarse=True))
    out = [[n for n in names if n not in head] for _, names in sorted(groups.items())]
    return [g for g in out if g]


@torch.no_grad()  # not inference_mode: the cached features feed a head that needs autograd
def extract_features(model: torch.nn.Module, data, mean, std, batch_size: int = 256) -> torch.Tensor:
    """Pre-logits features (the head's input), in eval mode: BatchNorm uses and keeps its running statistics."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = [model.forward_head(model.forward_features(prep(x.to(dev), mean, std)), pre_logits=True).float().cpu()
           for x in batches(data, batch_size)]
    model.train(was)
    return torch.cat(out)


class ProgressiveUnfreeze:
    """``on_epoch_start`` hook: at epoch e the head plus the top ``e // every`` layer groups train."""

    def __init__(self, model: torch.nn.Module, every: int):
        self.groups, self.head, self.every = layer_groups(model), head_param_names(model), max(1, every)
        self.schedule: list[tuple[int, int]] = []  # (epoch, groups unfrozen) whenever it changes

    def unfrozen(self, epoch: int) -> int:
        return min(len(self.groups), epoch // self.every)

    def __call__(self, model: torch.nn.Module, epoch: int) -> None:
        k = self.unfrozen(epoch)
        train = set(self.head).union(*self.groups[len(self.groups) - k:]) if k else set(self.head)
        for n, p in model.named_parameters():
            p.requires_grad_(n in train)
        if not self.schedule or self.schedule[-1][1] != k:
            self.schedule.append((epoch, k))


def linear_probe(model: torch.nn.Module, data: FitData, recipe: Recipe, hooks: Hooks) -> FitResult:
    """Train only ``model.get_classifier()`` on cached features; the body is untouched (weights and BN stats)."""
    head = model.get_classifier()
    head_ids = {id(p) for p in head.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in head_ids)
    f = ArrayData(extract_features(model, data.train, data.mean, data.std), data.train.labels)
    fv = ArrayData(extract_features(model, data.val, data.mean, data.std), data.val.labels) \
        if data.val is not None and len(data.val) else None  # data.val_fraction: 0 leaves no validation image
    result = fit(head, FitData(f, fv), replace(recipe, augment=False), hooks)
    for p in model.parameters():
        p.requires_grad_(True)
    return result


@dataclass(frozen=True)
class StrategyRun:
    """What every strategy is given: the model (trained in place), data, the main and the probe recipes, the hooks
    of each phase (``phase("probe")``, ``phase("train", **replaced)``) and the strategies' own params."""

    model: torch.nn.Module
    data: FitData
    recipe: Recipe
    probe: Recipe
    phase: Callable[..., Hooks]
    layer_decay: float = 0.7
    unfreeze_every: int = 1


Strategy = Callable[[StrategyRun], tuple[FitResult, dict]]  # -> (the main phase's result, strategy facts)
REGISTRY: dict[str, Strategy] = {}


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    def deco(fn: Strategy) -> Strategy:
        if name in REGISTRY:
            raise ValueError(f"strategy {name!r} is registered twice (train/strategies.py)")
        REGISTRY[name] = fn
        return fn

    return deco


def _probe_phase(run: StrategyRun) -> tuple[FitResult, dict]:
    r = linear_probe(run.model, run.data, run.probe, run.phase("probe"))
    return r, {"probe": {"steps": r.steps_done, "val_acc": r.final_val_acc}}


@register_strategy("linear_probe")
def _linear_probe(run: StrategyRun) -> tuple[FitResult, dict]:
    return _probe_phase(run)


@register_strategy("full")
def _full(run: StrategyRun) -> tuple[FitResult, dict]:
    return fit(run.model, run.data, run.recipe, run.phase("train")), {}


@register_strategy("lp_ft")
def _lp_ft(run: StrategyRun) -> tuple[FitResult, dict]:
    _, facts = _probe_phase(run)  # the main phase starts from the probed head (it stays on the model)
    return fit(run.model, run.data, run.recipe, run.phase("train")), facts


@register_strategy("discriminative")
def _discriminative(run: StrategyRun) -> tuple[FitResult, dict]:
    recipe = replace(run.recipe, layer_decay=run.layer_decay)
    return fit(run.model, run.data, recipe, run.phase("train")), {"layer_decay": run.layer_decay}


@register_strategy("progressive")
def _progressive(run: StrategyRun) -> tuple[FitResult, dict]:
    unfreeze = ProgressiveUnfreeze(run.model, run.unfreeze_every)
    r = fit(run.model, run.data, run.recipe, run.phase("train", on_epoch_start=unfreeze))
    for p in run.model.parameters():
        p.requires_grad_(True)
    return r, {"layer_groups": len(unfreeze.groups),
               "unfreeze_schedule": [{"epoch": e, "groups_unfrozen": k} for e, k in unfreeze.schedule]}


def run_strategy(name: str, model: torch.nn.Module, data: FitData, recipe: Recipe, probe: Recipe, hooks: Hooks,
                 ckpt_dir: Path | None = None, *, layer_decay: float = 0.7,
                 unfreeze_every: int = 1) -> tuple[FitResult, dict]:
    """Train ``model`` in place with strategy ``name``; return the main phase's result and strategy facts.

    ``hooks.on_eval`` is called as ``on_eval(phase, row)`` here (phase ``probe`` or ``train``); each phase has its
    own checkpoint file in ``ckpt_dir``.
    """
    def phase(name_: str, **extra) -> Hooks:
        on_eval = hooks.on_eval
        return replace(hooks, on_eval=(lambda row: on_eval(name_, row)) if on_eval else None,
                       checkpoint=ckpt_dir / f"{name_}.pt" if ckpt_dir is not None else None,
                       desc=hooks.desc and (hooks.desc if name_ == "train" else f"{hooks.desc} {name_}"), **extra)

    if name not in REGISTRY:
        raise ConfigError(f"finetune.strategy: unknown strategy {name!r}; params.yaml accepts one of "
                          f"{', '.join(REGISTRY)} (train/strategies.py registers them).")
    result, facts = REGISTRY[name](StrategyRun(model, data, recipe, probe, phase, layer_decay, unfreeze_every))
    return result, {"strategy": name, **facts}
