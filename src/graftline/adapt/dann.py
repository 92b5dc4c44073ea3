"""Domain-adversarial training (DANN): features a domain discriminator cannot tell apart.

Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 2016. A discriminator D (on a 256-unit
bottleneck of the features f) learns source = 1 / target = 0; a gradient reversal layer between f and D multiplies
D's gradient by −λ on its way into the network, so one minimisation trains D to separate the domains and the
network to confuse it:

    L_DANN = −E_s[log D(f_s)] − E_t[log(1 − D(f_t))]

λ warms up with training progress p ∈ [0, 1] (the paper's schedule): λ(p) = 2 / (1 + exp(−10 p)) − 1, so the
discriminator is not fighting random features at the start.
"""

from __future__ import annotations

import math

import torch

from graftline.adapt.registry import register_method


def warm_start(progress: float, gamma: float = 10.0) -> float:
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.coeff * g, None


def grad_reverse(x: torch.Tensor, coeff: float) -> torch.Tensor:
    return _Reverse.apply(x, coeff)


def discriminator(feat_dim: int, bottleneck: int = 256, hidden: int = 1024) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(feat_dim, bottleneck), torch.nn.BatchNorm1d(bottleneck), torch.nn.ReLU(),
        torch.nn.Linear(bottleneck, hidden), torch.nn.BatchNorm1d(hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1))


@register_method("dann")
class DANN(torch.nn.Module):
    trade_off = 0.1  # DEV's pick (registry.py)

    def __init__(self, feat_dim: int, num_classes: int, bottleneck: int = 256):
        super().__init__()
        self.disc = discriminator(feat_dim, bottleneck)

    def forward(self, fs, ft, ls, lt, progress: float) -> torch.Tensor:
        f = grad_reverse(torch.cat([fs, ft]).float(), warm_start(progress))
        d = self.disc(f).squeeze(1)
        target = torch.cat([torch.ones(len(fs)), torch.zeros(len(ft))]).to(d.device)
        return torch.nn.functional.binary_cross_entropy_with_logits(d, target)
