"""Deep CORAL: align the second-order statistics of source and target features.

Sun & Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation", ECCV 2016 workshops.
With d-dimensional features, batch covariances C = (XᵀX − (1ᵀX)ᵀ(1ᵀX)/n) / (n − 1),

    L_CORAL = 1 / (4 d²) · ‖C_S − C_T‖²_F

The 1/(4d²) factor makes the loss tiny for d = 512, so a useful ``trade_off`` is large (the paper picks it so the
two losses are of the same order at the end of training).
"""

from __future__ import annotations

import torch

from graftline.adapt.registry import register_method


def covariance(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    xm = x - x.mean(0, keepdim=True)
    return xm.T @ xm / max(n - 1, 1)


def coral_loss(fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
    d = fs.shape[1]
    return (covariance(fs) - covariance(ft)).pow(2).sum() / (4 * d * d)


@register_method("coral")
class Coral(torch.nn.Module):
    trade_off = 10.0  # DEV's pick (registry.py); large because of the 1/(4d^2) factor

    def __init__(self, feat_dim: int, num_classes: int):
        super().__init__()

    def forward(self, fs, ft, ls, lt, progress: float) -> torch.Tensor:
        return coral_loss(fs.float(), ft.float())
