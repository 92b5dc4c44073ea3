"""The images an adaptation sees: labelled source tensors, and target *images only* (labels never leave here).

Target images come from the prepared manifest's non-test splits (their labels are dropped on read) or from a
folder with no labels at all (every image file below it, any depth, in sorted path order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graftline.data.dataset import load_split
from graftline.data.images import load_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def target_images(prepared: Path, project_root: Path, splits: tuple[str, ...], in_chans: int, size) -> torch.Tensor:
    """The images of ``splits`` of ``data/prepared`` as [N, C, H, W] in [0, 1]; their labels are not returned."""
    parts = [load_split(prepared, project_root, s, in_chans, size) for s in splits]
    return torch.cat([p.tensors() for p in parts if len(p)])


def folder_images(folder: Path, in_chans: int, size, color_mode: str = "auto") -> torch.Tensor:
    """Every image file below ``folder`` (no labels, no class folders needed) as [N, C, H, W] in [0, 1]."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        from graftline.errors import DataError

        raise DataError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found below it. "
                        "adapt.target_folder must name a folder of unlabelled target images.")
    return torch.from_numpy(np.stack([load_image(f, in_chans, tuple(size), color_mode) for f in files]))
