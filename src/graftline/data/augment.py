"""Training-time augmentation as a policy (``finetune.augment``): ``glyph``, ``photo`` or ``none``.

Every draw comes from a seeded generator for the whole global batch (``draw``) and each process applies its slice
(``apply``), so a run on N processes sees the same augmentations as a run on one, and a resumed run the same as an
uninterrupted one (the loop seeds the generator by (seed, step): ``train.sampler.step_generator``). Images arrive
resized and centre-cropped (``data.transforms``), float [0, 1], before mean/std.

- ``glyph``: a small random affine map — rotation ±10°, scale 0.9-1.1, shift ±6 %, border padding. timm's default
  RandomResizedCrop (scale 0.08-1) is far too harsh for 32x32 glyphs.
- ``photo``: random resized crop of the model-size image (area 35-100 %, aspect 3/4-4/3, bilinear), horizontal
  flip (p = 0.5) and light colour jitter (brightness, contrast, saturation each ×[0.8, 1.2]). The crop is taken from
  the already centre-cropped input, not from the full-resolution file as timm's training transform does: it then
  runs batched on the model's input and needs no decode per draw; area 35 % rather than timm's 8 % because a few
  labels per class cannot afford crops that lose the object.
- ``none``: the images as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

POLICIES = ("glyph", "photo", "none")


def policy_of(augment) -> str:
    """A policy name from ``finetune.augment``'s value; the old bool maps ``True`` -> glyph, ``False`` -> none."""
    if augment is True or augment is False:
        return "glyph" if augment else "none"
    if augment not in POLICIES:
        raise ValueError(f"augment {augment!r} is not one of {', '.join(POLICIES)}")
    return augment


def affine_params(n: int, g: torch.Generator) -> torch.Tensor:
    """[n, 2, 3] glyph affine matrices for ``F.affine_grid``, drawn from ``g``."""
    ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(10)
    scale = 0.9 + torch.rand(n, generator=g) * 0.2
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * 0.12
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    return torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)


def apply_affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def photo_params(n: int, g: torch.Generator, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3)) -> dict[str, torch.Tensor]:
    """The photo policy's draws for ``n`` images: a crop+flip affine map and three jitter factors each."""
    area = scale[0] + torch.rand(n, generator=g) * (scale[1] - scale[0])
    log_r = math.log(ratio[0]) + torch.rand(n, generator=g) * (math.log(ratio[1]) - math.log(ratio[0]))
    aspect = torch.exp(log_r)
    cw = torch.sqrt(area * aspect).clamp(max=1.0)  # crop width and height as fractions of the image's
    ch = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(n, generator=g) * 2 - 1) * (1 - cw)  # crop centre in [-1, 1] coordinates, inside the image
    cy = (torch.rand(n, generator=g) * 2 - 1) * (1 - ch)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([cw * flip, zero, cx], 1), torch.stack([zero, ch, cy], 1)], 1)
    jitter = 0.8 + torch.rand(n, 3, generator=g) * 0.4  # brightness, contrast, saturation
    return {"theta": theta, "jitter": jitter}


def colour_jitter(x: torch.Tensor, jitter: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation factors ``jitter`` [N, 3] (torchvision's definitions, fixed order)."""
    b, c, s = (jitter[:, i].to(x.dtype).view(-1, 1, 1, 1) for i in range(3))
    x = (x * b).clamp(0, 1)
    gray = x.mean(1, keepdim=True) if x.shape[1] == 1 else (
        0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = ((x - gray.mean((2, 3), keepdim=True)) * c + gray.mean((2, 3), keepdim=True)).clamp(0, 1)
    if x.shape[1] == 3:
        gray = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        x = ((x - gray) * s + gray).clamp(0, 1)
    return x


def draw(policy: str, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """The random parameters of ``policy`` for a global batch of ``n`` images (each tensor's first axis is n)."""
    if policy == "glyph":
        return {"theta": affine_params(n, g)}
    if policy == "photo":
        return photo_params(n, g)
    return {}


def part(params: dict[str, torch.Tensor], take) -> dict[str, torch.Tensor]:
    """This process's slice of a global batch's draws (``take``: e.g. ``StepSampler.part``)."""
    return {k: take(v) for k, v in params.items()}


def apply(policy: str, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``x`` [N, C, H, W] in [0, 1] augmented with ``params`` (from ``draw``)."""
    if policy == "none" or not params:
        return x
    x = apply_affine(x, params["theta"].to(x.device))
    if policy == "photo":
        x = colour_jitter(x, params["jitter"].to(x.device))
    return x


def augment_batch(x: torch.Tensor, g: torch.Generator, policy: str = "glyph") -> torch.Tensor:
    """``x`` [N, C, H, W] in [0, 1], one draw of ``policy`` per image."""
    return apply(policy, x, draw(policy, x.shape[0], g))
