"""The one resize of every image that reaches a model: timm's eval transform, from the model card's ``Preprocess``.

``Resize`` holds what the card says (``size`` (H, W), ``interpolation``, ``crop_pct``, ``crop_mode``) and
``resize_crop`` applies it to a decoded uint8 image, exactly as ``timm.data.create_transform(**resolve_data_config(
model))`` does at evaluation (``transforms_imagenet_eval``):

1. ``crop_mode: center`` (timm's default): scale = floor(size / crop_pct); a square scale resizes the shorter side
   to it keeping the aspect ratio (torchvision's ``Resize(int)``: long side = int(scale * long / short)); a non-square
   one matches the shorter side (timm's ``ResizeKeepRatio``). ``squash``: both sides to the scale, aspect ignored.
   (``border``, which pads, is refused: no candidate graftline ships uses it.)
2. the resize filter is the card's ``interpolation``, antialiased: PIL's ``Image.resize`` (what torchvision runs on
   a PIL image, so the numbers are timm's to the bit), whose kernel widens by the reduction factor — a 4000-px photo
   brought to 256 px averages every pixel instead of sampling one in sixteen (no aliasing);
3. centre crop to ``size`` (torchvision's rounding; zero padding if the image is smaller, as torchvision pads);
4. scaled to float32 [0, 1]. Mean/std are applied by the consumer, after augmentation.

One exception keeps the 32-px demo bit-identical with earlier releases: a *bilinear* resize that only enlarges (or
keeps) both sides runs in float32 (``resize_bilinear``: half-pixel centres, edge clamp), not on uint8 pixels. When
enlarging, the antialiased bilinear kernel *is* this 2-tap kernel (its support is one input pixel), so the two differ
only by PIL's rounding to uint8 (<= 0.5/255), which the float path avoids.

numpy and PIL only: ``graftline predict`` runs this in a torch-free serving container.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# timm's interpolation names -> PIL filters (torchvision's pil_modes_mapping)
FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
CROP_MODES = ("center", "squash")


@dataclass(frozen=True)
class Resize:
    """How an image is brought to a model's input size (the card's ``preprocess``; module docstring)."""

    size: tuple[int, int]  # (H, W)
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    crop_mode: str = "center"

    def __post_init__(self):
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.interpolation not in FILTERS:
            raise ValueError(f"interpolation {self.interpolation!r} is not one of {', '.join(FILTERS)}")
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode {self.crop_mode!r} is not supported (graftline resizes with "
                             f"{' or '.join(CROP_MODES)}, as timm does for them)")
        if not 0.0 < self.crop_pct <= 4.0:
            raise ValueError(f"crop_pct {self.crop_pct} must be in (0, 4]")

    def plan(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((resized H, W), (crop top, left)) for an ``h`` x ``w`` image; top/left < 0 means zero padding."""
        th, tw = self.size
        sh, sw = math.floor(th / self.crop_pct), math.floor(tw / self.crop_pct)
        if self.crop_mode == "squash":
            rh, rw = sh, sw
        elif sh == sw:  # torchvision Resize(int): the shorter side to sh, the other in proportion (truncated)
            if w <= h:
                rw, rh = sh, int(sh * h / w)
            else:
                rh, rw = sh, int(sh * w / h)
        else:  # timm ResizeKeepRatio(longest=0): the side that needs the least reduction matches its target
            ratio = min(h / sh, w / sw)
            rh, rw = round(h / ratio), round(w / ratio)
        return (rh, rw), (int(round((rh - th) / 2.0)), int(round((rw - tw) / 2.0)))


def resize_spec(size_or_policy: Any) -> Resize:
    """A ``Resize`` from a ``Resize``, an (H, W) pair (the defaults: bilinear, crop 1.0, centre) or anything with
    ``size``, ``interpolation``, ``crop_pct`` and ``crop_mode`` (the card's ``Preprocess``)."""
    if isinstance(size_or_policy, Resize):
        return size_or_policy
    if hasattr(size_or_policy, "crop_pct"):
        p = size_or_policy
        return Resize(tuple(p.size), p.interpolation, float(p.crop_pct), p.crop_mode)
    return Resize(tuple(size_or_policy))


def resize_bilinear(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float32 [H, W, C] -> [*size, C], bilinear with half-pixel centres and edge clamping (no antialias).

    The same arithmetic as ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``; used only to
    enlarge, where it equals the antialiased kernel (module docstring).
    """
    for axis, out in ((0, size[0]), (1, size[1])):
        n = a.shape[axis]
        if n == out:
            continue
        src = np.maximum((np.arange(out, dtype=np.float64) + 0.5) * (n / out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        w = (src - i0).astype(np.float32)
        shape = [1] * a.ndim
        shape[axis] = out
        w = w.reshape(shape)
        a = np.take(a, i0, axis=axis) * (1 - w) + np.take(a, i1, axis=axis) * w
    return a


def _hwc(a) -> np.ndarray:
    a = np.asarray(a)
    a = a[:, :, None] if a.ndim == 2 else a
    if a.dtype != np.uint8:
        raise ValueError(f"resize_crop takes decoded uint8 images, got {a.dtype}")
    return a


def _resize_pil(a, hw: tuple[int, int], interpolation: str) -> np.ndarray:
    from PIL import Image

    if not isinstance(a, Image.Image):
        a = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a, "L" if a.shape[2] == 1 else "RGB")
    return _hwc(a.resize((hw[1], hw[0]), FILTERS[interpolation]))


def _crop(f: np.ndarray, size: tuple[int, int], top: int, left: int) -> np.ndarray:
    th, tw = size
    if top < 0 or left < 0:  # smaller than the crop: zero padding around it, as torchvision's CenterCrop pads
        h, w = f.shape[:2]
        pt, pl = max(0, (th - h) // 2), max(0, (tw - w) // 2)
        f = np.pad(f, ((pt, max(0, th - h - pt)), (pl, max(0, tw - w - pl)), (0, 0)))
        top, left = int(round((f.shape[0] - th) / 2.0)), int(round((f.shape[1] - tw) / 2.0))
    return f[top: top + th, left: left + tw]


def resize_crop(a, spec: Resize) -> np.ndarray:
    """uint8 [H, W] or [H, W, C], or an 8-bit 'L'/'RGB' PIL image -> float32 [*spec.size, C] in [0, 1]: resize,
    centre crop (module docstring). A PIL image is resized before its pixels are copied out: for a 4000-px photo
    that saves two copies of 32 MB."""
    image = hasattr(a, "getbands")
    if not image:
        a = _hwc(a)
    h, w = (a.height, a.width) if image else a.shape[:2]
    (rh, rw), (top, left) = spec.plan(h, w)
    if (rh, rw) != (h, w) and not (spec.interpolation == "bilinear" and rh >= h and rw >= w):
        f = _resize_pil(a, (rh, rw), spec.interpolation).astype(np.float32) / np.float32(255.0)
    else:
        f = _hwc(a).astype(np.float32) / np.float32(255.0)
        if (rh, rw) != (h, w):
            f = resize_bilinear(f, (rh, rw))
    return np.ascontiguousarray(_crop(f, spec.size, top, left), dtype=np.float32)
