"""Regularisers that keep a fine-tuned model near its source (``finetune.regularizer``).

- ``l2_sp`` (Li, Grandvalet & Davoine, "Explicit Inductive Bias for Transfer Learning with Convolutional Networks",
  ICML 2018): α/2 ‖w − w⁰‖² over the backbone (w⁰ = the source weights) + β/2 ‖w‖² over the new head. It replaces
  weight decay (which would pull the backbone towards 0 instead of towards w⁰), so the optimizer's decay is off.
- ``ewc`` (Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks", PNAS 2017):
  λ/2 Σ Fᵢ (wᵢ − wᵢ⁰)² over the backbone, F the diagonal (empirical) Fisher information of the source task at the
  source weights: the mean over source images of the squared per-image gradient of the log-likelihood of its label,
  with the source head, in eval mode. F is scaled to mean 1 so that λ reads like L2-SP's α (same total pull,
  redistributed towards the weights the source task needs).

Each registers a builder with ``@register_regularizer(name)``; ``finetune.regularizer``'s Literal
(config/training.py) is checked against ``REGISTRY`` by tests/unit/test_strategies.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from graftline.config import FinetuneParams
from graftline.errors import ModelError
from graftline.eval.logits import prep
from graftline.train.recipe import Penalty


@dataclass(frozen=True)
class Anchor:
    """What a regulariser may hold the fine-tuned model to: the source model as it was, the new head's parameter
    names (never pulled towards the source), and the source's own images when the candidate records them."""

    source: torch.nn.Module
    head: set[str]
    source_eval: Optional[dict]  # x, y (and x_eval, y_eval) of the source task, or None
    mean: list[float]
    std: list[float]
    seed: int = 0
    candidate: str = ""


Builder = Callable[[torch.nn.Module, Anchor, FinetuneParams], Optional[Penalty]]


@dataclass(frozen=True)
class Regularizer:
    name: str
    build: Builder  # (the model being fine-tuned, its anchor, finetune params) -> penalty(model) or None
    replaces_weight_decay: bool = False  # the optimizer's decay is switched off (it would pull towards 0)


REGISTRY: dict[str, Regularizer] = {}


def register_regularizer(name: str, *, replaces_weight_decay: bool = False) -> Callable[[Builder], Builder]:
    def deco(build: Builder) -> Builder:
        if name in REGISTRY:
            raise ValueError(f"regularizer {name!r} is registered twice (train/regularizers.py)")
        REGISTRY[name] = Regularizer(name, build, replaces_weight_decay)
        return build

    return deco


def _anchors(model: torch.nn.Module, source_state: dict, head: set[str]) -> dict[str, torch.Tensor]:
    """Backbone parameters that exist, same shape, in the source: the ones a regulariser pulls back."""
    return {n: source_state[n].detach().clone() for n, p in model.named_parameters()
            if n not in head and n in source_state and source_state[n].shape == p.shape}


def _follow(tensors: dict[str, torch.Tensor], params: dict) -> None:
    """Move the reference tensors to the parameters' device (the loop moves the model after we are built)."""
    n = next(iter(tensors), None)
    if n is not None and tensors[n].device != params[n].device:
        for k in tensors:
            tensors[k] = tensors[k].to(params[k].device)


def l2_sp(model: torch.nn.Module, source_state: dict, head: set[str], alpha: float = 0.1, beta: float = 0.01):
    anchors = _anchors(model, source_state, head)
    params = dict(model.named_parameters())

    def penalty(_trained: torch.nn.Module) -> torch.Tensor:
        _follow(anchors, params)
        sp = sum(((params[n] - w0) ** 2).sum() for n, w0 in anchors.items() if params[n].requires_grad)
        hd = sum((params[n] ** 2).sum() for n in head if params[n].requires_grad)
        return alpha / 2 * sp + beta / 2 * hd

    return penalty


def fisher_diagonal(source_model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std,
                    samples: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher of the source task at the source weights (per-image squared gradients)."""
    was = source_model.training
    source_model.eval()  # BatchNorm uses its running statistics and does not change them
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(y), generator=g)[: min(samples, len(y))]
    params = {n: p for n, p in source_model.named_parameters()}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    for i in pick.tolist():
        source_model.zero_grad(set_to_none=True)
        logp = F.log_softmax(source_model(prep(x[i: i + 1], mean, std)), dim=1)
        (-logp[0, y[i]]).backward()
        for n, p in params.items():
            if p.grad is not None:
                fisher[n] += p.grad.detach() ** 2
    source_model.zero_grad(set_to_none=True)
    source_model.train(was)
    return {n: f / len(pick) for n, f in fisher.items()}


def ewc(model: torch.nn.Module, source_state: dict, head: set[str], fisher: dict[str, torch.Tensor],
        lam: float = 0.1):
    anchors = _anchors(model, source_state, head)
    fisher = {n: fisher[n].to(w.device) for n, w in anchors.items() if n in fisher}
    scale = torch.cat([f.flatten() for f in fisher.values()]).mean().clamp_min(1e-12)
    fisher = {n: f / scale for n, f in fisher.items()}
    params = dict(model.named_parameters())

    def penalty(_trained: torch.nn.Module) -> torch.Tensor:
        _follow(anchors, params)
        _follow(fisher, params)
        return lam / 2 * sum((fisher[n] * (params[n] - anchors[n]) ** 2).sum() for n in fisher
                             if params[n].requires_grad)

    return penalty


@register_regularizer("none")
def _none(model: torch.nn.Module, anchor: Anchor, p: FinetuneParams) -> None:
    return None


@register_regularizer("l2_sp", replaces_weight_decay=True)
def _l2_sp(model: torch.nn.Module, anchor: Anchor, p: FinetuneParams) -> Penalty:
    return l2_sp(model, anchor.source.state_dict(), anchor.head, p.l2_sp_alpha, p.l2_sp_beta)


@register_regularizer("ewc")
def _ewc(model: torch.nn.Module, anchor: Anchor, p: FinetuneParams) -> Penalty:
    src = anchor.source_eval
    if src is None:
        raise ModelError(f"finetune.regularizer=ewc needs the source task's data to compute the Fisher, but "
                         f"{anchor.candidate} records no source eval set on disk (source_eval in its JSON). Use "
                         "finetune.regularizer=l2_sp (it needs only the source weights) or none.")
    fisher = fisher_diagonal(anchor.source, src["x"], src["y"], anchor.mean, anchor.std, p.ewc_samples, anchor.seed)
    return ewc(model, anchor.source.state_dict(), anchor.head, fisher, p.ewc_lambda)
