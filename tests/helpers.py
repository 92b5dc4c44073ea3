"""Helpers that several test modules build their inputs with (test modules import from here, never from each
other; the project-level helpers, such as running the CLI or making a tiny project, are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import cli

# A folder source of images/<class>/*.png, every image used, a quarter each for val and test.
BASE = {"data": {"source": "folder", "root": "images", "train_per_class": None, "val_per_class": None,
                 "val_fraction": 0.25, "test_fraction": 0.25, "workers": 1}}


def smooth(seed: int, size: int = 64, mode: str = "L") -> Image.Image:
    """A random low-frequency image: distinct seeds are far apart in perceptual hash (>= 20 bits of 64), a resized
    JPEG copy of one stays within 2-4 bits."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3 if mode == "RGB" else 1), dtype=np.uint8)
    im = Image.fromarray(small.squeeze(-1) if mode != "RGB" else small, "L" if mode != "RGB" else "RGB")
    return im.resize((size, size), Image.BICUBIC)


def make_images(root: Path, classes=("cat", "dog"), per_class: int = 6, seed: int = 0) -> Path:
    """root/<class>/<i>.png of ``smooth`` images, no two near each other."""
    for ci, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            smooth(seed + 1000 * ci + i).save(root / c / f"{i}.png")
    return root


def make_folder(root: Path, per_class: int = 12, classes=("cat", "dog"), size=(12, 10), seed=0) -> Path:
    """root/<class>/<i>.png of random-noise grey images of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def run(project: Path, *args: str, capsys=None) -> tuple[int, str]:
    """``graftline -C project <args>`` in-process -> (exit code, stdout + stderr)."""
    r = cli(*args, cwd=project)
    return r.returncode, r.stdout + r.stderr
