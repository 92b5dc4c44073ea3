"""The optimizer, the learning-rate schedule, the device and the BatchNorm policy of a training run."""

from __future__ import annotations

import contextlib

import torch

from graftline.train import distributed as dist
from graftline.train.recipe import Recipe


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """AdamW via timm (no decay on norms/biases); with ``layer_decay``, one group per timm layer group, each with
    its ``lr_scale`` (applied by the timm scheduler below).

    ``fused=True``: torch's fused AdamW kernel (CPU and CUDA) updates every parameter in one call instead of a
    Python loop of small tensor ops; a whole training step of the demo's resnet10t (batch 32, 32 px, 2 CPU cores)
    is 1.3-1.6x faster (``benchmarks/optimizer.py``). Deterministic, so resume and reruns stay bit-identical."""
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model, "adamw", lr=recipe.lr, weight_decay=recipe.weight_decay,
                               layer_decay=recipe.layer_decay, fused=True)


def make_scheduler(opt: torch.optim.Optimizer, recipe: Recipe):
    """timm's warmup + cosine, per step: ``lr × lr_scale × f(step)``.

    f rises linearly as (step + 1) / warmup over the first ``warmup_steps`` steps, then follows a half cosine to 0 at
    ``steps``. The scheduler is stateless in the step (``step_update(step)`` before each optimizer step), so resume
    needs no scheduler state.
    """
    from timm.scheduler import CosineLRScheduler

    w = recipe.warmup_steps
    warm = max(w - 1, 0)
    return CosineLRScheduler(opt, t_initial=max(1, recipe.steps - warm), lr_min=0.0, warmup_t=warm,
                             warmup_lr_init=recipe.lr / w if w > 1 else 0.0, warmup_prefix=True, t_in_epochs=False)


def freeze_bn_of_frozen(model: torch.nn.Module) -> None:
    """Put BatchNorm layers whose parameters are all frozen in eval mode: ``requires_grad=False`` alone still
    updates their running statistics."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda", dist.local_rank()) if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


@contextlib.contextmanager
def deterministic(on: bool):
    """Deterministic kernels for the run (CPU), restored afterwards: resume and reruns are bit-identical."""
    before = torch.are_deterministic_algorithms_enabled()
    if on:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
