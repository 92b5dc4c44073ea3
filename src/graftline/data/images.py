"""Decoding images into model inputs.

One path for every image that reaches a model — a user's file, a rendered source array, a test image: decode with
PIL (EXIF orientation honoured), convert to the model's channels ('L' for 1, 'RGB' for 3), resize to the model's
input size with the same bilinear kernel, scale to [0, 1]. Normalisation (mean/std) is applied by the consumer,
after augmentation, so that padding stays the image's own border colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def decode(path: Path, in_chans: int, max_pixels: int | None = None) -> np.ndarray:
    """File -> uint8 array [H, W, C] with the model's channel count."""
    from PIL import Image, ImageOps

    if max_pixels is not None:
        Image.MAX_IMAGE_PIXELS = max_pixels
    with Image.open(path) as im:
        im.seek(0)  # first frame of an animated image
        im = ImageOps.exif_transpose(im)
        im = im.convert("L" if in_chans == 1 else "RGB")
        arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def to_input(arrays: list[np.ndarray] | np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """uint8 images ([H, W] or [H, W, C], any sizes) -> float tensor [N, C, *size] in [0, 1]."""
    out = []
    for a in arrays:
        t = torch.from_numpy(np.array(a, dtype=np.float32, copy=True)).div_(255.0)
        t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
        if tuple(t.shape[-2:]) != tuple(size):
            t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
        out.append(t[0])
    return torch.stack(out) if out else torch.empty(0)


def normalize(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def load_rows(root: Path, paths: list[str], in_chans: int, size: tuple[int, int], progress: str | None = None) -> torch.Tensor:
    """Decode the manifest's images (relative to ``root``) into one [N, C, H, W] tensor in [0, 1]."""
    from tqdm import tqdm

    arrays = [decode(root / p, in_chans) for p in tqdm(paths, desc=progress, disable=progress is None or len(paths) < 500)]
    return to_input(arrays, size)
