"""The images an adaptation sees: labelled source tensors, and target *images only* (labels never leave here).

Labelled source: a .npz (x, y, split, classes: the demo's rendered digits), an image folder ``<class>/<image>`` or a
CSV/parquet manifest ``path,label[,split]`` (read with the same path-safety rules as ``data.source``).

Target images come from the prepared manifest's non-test splits (their labels are dropped on read) or from a
folder with no labels at all (every image file below it, any depth, in sorted path order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graftline.data.dataset import load_split
from graftline.data.images import load_image
from graftline.data.manifest import SPLITS
from graftline.data.sources import IMAGE_SUFFIXES, read_csv, scan_folder
from graftline.errors import ConfigError, DataError
from graftline.models.zoo import load_source

def target_images(prepared: Path, project_root: Path, splits: tuple[str, ...], in_chans: int, size) -> torch.Tensor:
    """The images of ``splits`` of ``data/prepared`` as [N, C, H, W] in [0, 1]; their labels are not returned."""
    parts = [load_split(prepared, project_root, s, in_chans, size) for s in splits]
    return torch.cat([p.tensors() for p in parts if len(p)])


def folder_images(folder: Path, in_chans: int, size, color_mode: str = "auto") -> torch.Tensor:
    """Every image file below ``folder`` (no labels, no class folders needed) as [N, C, H, W] in [0, 1]."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found below it. "
                        "adapt.target_folder must name a folder of unlabelled target images.")
    return torch.from_numpy(np.stack([load_image(f, in_chans, size, color_mode) for f in files]))


def _stack(root: Path, paths: list[str], in_chans: int, size, color_mode: str) -> torch.Tensor:
    out = []
    for rel in paths:
        try:
            out.append(load_image(root / rel, in_chans, size, color_mode))
        except Exception as e:  # noqa: BLE001 - name the file, the rule and the fix
            raise DataError(f"{root / rel}: adapt.source image cannot be decoded ({e}). Remove or re-export the "
                            "file; the labelled source must decode completely.") from e
    return torch.from_numpy(np.stack(out))


def labelled_source(path: Path, in_chans: int, size, color_mode: str = "auto", eval_every: int = 5) -> dict:
    """``adapt.source`` -> {x, y, x_eval, y_eval, classes}. A .npz keeps its own split; a folder or CSV holds out its
    ``val``/``test`` rows for the label-free criterion (DEV), or with no split column every ``eval_every``-th image
    of each class (path order: deterministic)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return load_source(path, size)
    if not path.exists():
        raise ConfigError(f"adapt.source: {path} does not exist. Point it at a .npz, a folder <class>/<image> or a "
                          "CSV path,label[,split] of labelled source images.")
    images = scan_folder(path) if path.is_dir() else read_csv(path)
    root = path if path.is_dir() else path.parent
    if (images.split >= 0).any():
        held = np.isin(images.split, [SPLITS.index("val"), SPLITS.index("test")])
    else:
        seen: dict[int, int] = {}
        held = np.zeros(len(images), bool)
        for i, c in enumerate(images.label.tolist()):
            seen[c] = seen.get(c, 0) + 1
            held[i] = seen[c] % eval_every == 0
    fit, ev = np.flatnonzero(~held), np.flatnonzero(held)
    if not len(fit) or not len(ev):
        raise DataError(f"adapt.source: {path} has {len(fit)} training and {len(ev)} held-out images; both are "
                        "needed (the held-out ones score the label-free criterion). Add images or split rows.")
    y = lambda idx: torch.from_numpy(images.label[idx].astype(np.int64))  # noqa: E731
    return {"x": _stack(root, images.paths[fit].tolist(), in_chans, size, color_mode), "y": y(fit),
            "x_eval": _stack(root, images.paths[ev].tolist(), in_chans, size, color_mode), "y_eval": y(ev),
            "classes": images.classes}
