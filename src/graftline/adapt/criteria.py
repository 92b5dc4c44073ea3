"""Choosing without target labels: soft neighbourhood density (SND).

Saito, Kim, Teterwak, Sclaroff, Darrell & Saenko, "Tune it the Right Way: Unsupervised Validation of Domain
Adaptation via Soft Neighborhood Density", ICCV 2021. On the unlabelled target images, with p_i the softmax
output, p̂_i = p_i / ‖p_i‖, similarities S_ij = p̂_i · p̂_j (i ≠ j), and the soft neighbourhood
P_ij = exp(S_ij / τ) / Σ_{k≠i} exp(S_ik / τ) (τ = 0.05),

    SND = (1 / N) Σ_i H(P_i)      (higher = denser neighbourhoods = a better-adapted model)

It reads images only, so it can pick the method, the trade-off and the stopping step where no label exists.
"""

from __future__ import annotations

import torch

from graftline.eval.logits import predict_logits


def snd_from_logits(logits: torch.Tensor, tau: float = 0.05) -> float:
    p = torch.nn.functional.normalize(torch.softmax(logits.float(), dim=1), dim=1)
    s = p @ p.T
    s.fill_diagonal_(float("-inf"))
    q = torch.softmax(s / tau, dim=1)
    return float(-(q * torch.log(q + 1e-12)).sum(1).mean())


def snd(model: torch.nn.Module, target_x: torch.Tensor, mean, std, tau: float = 0.05) -> float:
    """SND of ``model`` on unlabelled target images [N, C, H, W] in [0, 1]."""
    return snd_from_logits(predict_logits(model, target_x, mean, std), tau)


def pick(candidates: list[dict], key: str = "snd") -> dict:
    """The candidate (a dict with ``key``) that the label-free criterion prefers: the largest score."""
    return max(candidates, key=lambda c: c[key])
