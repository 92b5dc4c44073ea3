"""Training-time augmentation: small random affine maps, drawn per global batch from a seeded generator.

timm's default RandomResizedCrop (scale 0.08-1) is far too harsh for 32x32 glyphs; this is rotation ±10°, scale
0.9-1.1, shift ±6 %, border padding. The parameters are drawn for the whole global batch and each process applies
its slice, so a run on N processes sees the same augmentations as a run on one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def affine_params(n: int, g: torch.Generator) -> torch.Tensor:
    """[n, 2, 3] affine matrices for ``F.affine_grid``, drawn from ``g``."""
    ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(10)
    scale = 0.9 + torch.rand(n, generator=g) * 0.2
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.12
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)


def apply_affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment_batch(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``x`` [N, C, H, W] in [0, 1] with one random affine map per image."""
    return apply_affine(x, affine_params(x.shape[0], g))
