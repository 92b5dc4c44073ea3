"""Source only: the source cross-entropy and nothing else, on the same batches, steps and schedule as every method.

The control arm: each method's gain is its target accuracy minus this one's (same seed, same budget). Target
images still pass through the network (their BatchNorm statistics mix in as in every other arm), only no loss
looks at them.
"""

from __future__ import annotations

import torch

from graftline.adapt.registry import register_method


@register_method("source_only")
class SourceOnly(torch.nn.Module):
    trade_off = 0.0  # no adaptation loss at all

    def __init__(self, feat_dim: int, num_classes: int):
        super().__init__()

    def forward(self, fs, ft, ls, lt, progress: float) -> torch.Tensor:
        return ls.new_zeros(())
