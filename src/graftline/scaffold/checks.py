"""What ``graftline init`` refuses before it creates anything: data that cannot make a classifier.

Each check is one a project made without it fails later, far from the cause (prepare's "no images found", or worse,
a one-class model that predicts its only class for everything): no images, images but no class folders, one class,
a class with too few images for the three splits. The images are read by the readers prepare uses
(``data.sources``), so init and prepare agree on what a class and an image are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graftline.data.sources import IMAGE_SUFFIXES, Images, read_csv, scan_folder
from graftline.errors import DataError

MIN_PER_CLASS = 3  # one image each for train, val and test (data/splits.py gives every split one when n >= 3)
LAYOUT = "one subfolder per class, the images inside it (<folder>/<class>/<image>, e.g. shapes/circle/001.png)"


def _loose_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_folder(folder: Path) -> Images:
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    if not any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*")):
        raise DataError(f"{folder} holds no images (looked for {suffixes}). Fix: point --images at "
                        f"a folder with {LAYOUT}.")
    loose = _loose_images(folder)
    has_classes = any(p.is_dir() and not p.name.startswith(".") and any(
        q.suffix.lower() in IMAGE_SUFFIXES for q in p.rglob("*")) for p in folder.iterdir())
    if not has_classes:
        raise DataError(f"{folder} has {len(loose)} images but no class folders (e.g. "
                        f"{loose[0].name} lies directly in it); graftline reads each image's class from the folder "
                        f"it is in. Fix: move the images into {LAYOUT}, or list them with their labels in a CSV "
                        "(path,label) and give --csv.")
    return scan_folder(folder)


def check_init_data(images: Path | None, csv: Path | None) -> Images:
    """The images ``--images``/``--csv`` name, or a DataError with the fix when they cannot train a classifier."""
    source = (images or csv).resolve()
    found = _read_folder(source) if images is not None else read_csv(source)
    if len(found.classes) < 2:
        only = found.classes[0] if found.classes else "none"
        raise DataError(f"{source} has one class ({only!r}, {len(found)} images); a classifier needs "
                        f"at least two, or it predicts {only!r} for everything. Fix: add a folder (or CSV label) for "
                        f"each other class, with at least {MIN_PER_CLASS} images each.")
    counts = np.bincount(found.label, minlength=len(found.classes))
    few = [(found.classes[c], int(n)) for c, n in enumerate(counts) if n < MIN_PER_CLASS]
    if few:
        listed = ", ".join(f"{name!r} ({n})" for name, n in few[:5]) + (f" and {len(few) - 5} more" if len(few) > 5
                                                                          else "")
        raise DataError(f"{source}: too few images to split in class {listed}; every class needs at "
                        f"least {MIN_PER_CLASS} (one each for train, val and test). Fix: add images to those "
                        "classes, or remove them from the data.")
    return found
