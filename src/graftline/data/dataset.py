"""Data for models: a streaming ``Dataset`` over the manifest, in-memory arrays, and one split of the manifest.

Images are decoded on demand by ``images.load_image`` (the colour policy, the candidate's channels and size), in
``DataLoader`` worker processes when the split is large, so memory does not grow with the data set: a million
224x224 RGB images would need ~600 GB as one tensor. A split small enough for ``cache_bytes`` (the embedded default's
30 training images) is decoded once and kept, which is as fast as the old in-memory path.

Every dataset here answers ``take(idx) -> (x [n, C, H, W] float in [0, 1], y [n])`` (a batch, in this process) and
``__getitem__`` (one sample, for ``DataLoader`` workers); ``labels`` is the label tensor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from graftline.data.images import load_image
from graftline.data.manifest import read_manifest
from graftline.data.transforms import Resize, resize_spec

CACHE_BYTES = 512 * 2**20  # decoded images kept in memory when a whole split fits


class ArrayData(Dataset):
    """Tensors already in memory (rendered sources, cached features): ``x`` [N, ...], ``y`` [N]."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.labels = x, y

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.x[i], self.labels[i]

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.labels[idx]

    workers = 0


class ImageDataset(Dataset):
    """Image files under ``root``, decoded on demand to float [C, *size] in [0, 1].

    ``size``: a ``transforms.Resize`` (the card's ``preprocess.resize``: interpolation, crop_pct, crop_mode) or an
    (H, W) pair (bilinear, the whole image)."""

    def __init__(self, root: Path, paths: list[str], labels: torch.Tensor, in_chans: int, size, *,
                 color_mode: str = "auto", max_pixels: int | None = None, cache_bytes: int = CACHE_BYTES):
        self.root, self.paths, self.labels = Path(root), list(paths), labels
        self.resize = resize_spec(size)
        self.in_chans, self.size = in_chans, self.resize.size
        self.color_mode, self.max_pixels = color_mode, max_pixels
        per_image = 4 * in_chans * self.size[0] * self.size[1]
        self.cached = per_image * len(self.paths) <= cache_bytes
        self._cache: dict[int, torch.Tensor] = {}
        self._loaders: dict[int, torch.utils.data.DataLoader] = {}

    def __getstate__(self):  # what a DataLoader worker receives: no loaders (they hold worker processes)
        return {**self.__dict__, "_loaders": {}}

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> torch.Tensor:
        x = self._cache.get(i)
        if x is None:
            x = torch.from_numpy(load_image(self.root / self.paths[i], self.in_chans, self.resize, self.color_mode,
                                            self.max_pixels))
            if self.cached:
                self._cache[i] = x
        return x

    def __getitem__(self, i: int):
        return self.load(i), self.labels[i]

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(idx)
        x = torch.stack([self.load(int(i)) for i in idx]) if len(idx) else torch.empty(0, self.in_chans, *self.size)
        return x, self.labels[idx]

    @property
    def workers(self) -> int:
        """DataLoader workers that pay off: none when the split is cached in memory, else up to 4."""
        return 0 if self.cached else min(4, os.cpu_count() or 1)

    def loader(self, batch_size: int) -> torch.utils.data.DataLoader:
        """An in-order loader for evaluation whose workers persist across calls: evaluating every epoch then costs
        no worker start-up (a fork and a fresh PIL/numpy state per worker, each time)."""
        if batch_size not in self._loaders:
            self._loaders[batch_size] = torch.utils.data.DataLoader(
                self, batch_size=batch_size, shuffle=False, num_workers=self.workers, prefetch_factor=4,
                persistent_workers=True)
        return self._loaders[batch_size]


@dataclass
class Split:
    """One split of ``data/prepared`` for one model: the dataset, the class names and the data's meta."""

    data: ImageDataset
    classes: list[str]
    meta: dict

    @property
    def y(self) -> torch.Tensor:
        return self.data.labels

    def __len__(self) -> int:
        return len(self.data)

    def tensors(self) -> torch.Tensor:
        """All images as one [N, C, H, W] tensor: for small splits (selection's scored images, tests)."""
        return self.data.take(torch.arange(len(self.data)))[0]


def load_split(prepared: Path, project_root: Path, split: str, in_chans: int, size, policy=None) -> Split:
    """The rows of ``split`` in ``data/prepared``, decoded for a model with ``in_chans`` channels at ``size``.

    ``size``: the card's ``preprocess.resize`` (or an (H, W) pair: bilinear, the whole image). ``policy``: the model
    card's ``preprocess`` (``models/card.py``): a saved model is evaluated with the colour policy, pixel bound and
    resize it is served with. Without one (training, before the card exists) the data's own colour policy from
    ``data/prepared/meta.json``, which the new card then records.
    """
    rows, classes, meta = read_manifest(prepared)
    root = (project_root / meta["root"]).resolve()
    part = [r for r in rows if r.split == split]
    y = torch.tensor(np.array([classes.index(r.label) for r in part], dtype=np.int64))
    color_mode, max_pixels = (policy.color_mode, policy.max_pixels) if policy is not None else data_policy(meta)
    resize = resize_spec(policy if policy is not None and not isinstance(size, Resize) else size)
    data = ImageDataset(root, [r.path for r in part], y, in_chans, resize, color_mode=color_mode,
                        max_pixels=max_pixels)
    return Split(data, classes, meta)


def data_policy(meta: dict) -> tuple[str, int | None]:
    """(color_mode, max_pixels) that ``graftline prepare`` recorded for the data (PrepareResult's defaults when a
    hand-made meta.json leaves them out)."""
    from graftline.results import PrepareResult

    fields = PrepareResult.model_fields
    return (meta.get("color_mode", fields["color_mode"].default), meta.get("max_pixels", fields["max_pixels"].default))
