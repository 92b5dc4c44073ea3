"""Minimum Class Confusion (MCC): penalise the target predictions' between-class confusion.

Jin, Wang, Long & Wang, "Minimum Class Confusion for Versatile Domain Adaptation", ECCV 2020.
On a target batch of B logits z with temperature T: Ŷ = softmax(z / T); entropy weights
W_i = B · (1 + e^{−H(Ŷ_i)}) / Σ_j (1 + e^{−H(Ŷ_j)}); class confusion C = Ŷᵀ diag(W) Ŷ, each row divided by its sum
(category normalisation) to C̃; the loss is the off-diagonal mass per class

    L_MCC = (1 / |C|) · Σ_{j ≠ j'} C̃_{j j'}

No discriminator: it only needs the target logits. The paper's T = 2.5.
"""

from __future__ import annotations

import torch

from graftline.adapt.registry import register_method


def mcc_loss(logits_t: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    b, k = logits_t.shape
    y = torch.softmax(logits_t.float() / temperature, dim=1)
    h = -(y * torch.log(y + 1e-5)).sum(1)
    w = 1 + torch.exp(-h)
    w = (b * w / w.sum()).unsqueeze(1)
    c = (y * w).T @ y
    c = c / c.sum(1, keepdim=True)
    return (c.sum() - torch.trace(c)) / k


@register_method("mcc")
class MCC(torch.nn.Module):
    trade_off = 1.0  # DEV's pick (registry.py)

    def __init__(self, feat_dim: int, num_classes: int, temperature: float = 2.5):
        super().__init__()
        self.temperature = temperature

    def forward(self, fs, ft, ls, lt, progress: float) -> torch.Tensor:
        return mcc_loss(lt, self.temperature)
