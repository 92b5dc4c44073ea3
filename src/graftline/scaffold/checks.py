"""What ``graftline init`` checks on this machine before it writes a project: data that cannot make a classifier
is refused before anything is created; the default candidates are ones this machine has; the docs it points to exist.

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


def candidates_here(defaults: list[str], with_demo_zoo: bool) -> tuple[list[str], bool, str | None]:
    """The default candidates this machine can load, offline: the ``hub:`` defaults that are in the Hugging Face
    cache, or else the demo zoo (pretrained here by the demo and zoo stages). Returns (candidates, with_demo_zoo,
    a note for the user or None)."""
    from graftline.models.hub import hub_cache_hint, hub_weights_cached

    cached = [c for c in defaults if hub_weights_cached(c.removeprefix("hub:"))]
    missing = [c for c in defaults if c not in cached]
    if cached:
        note = (f"not in the Hugging Face cache, left out: {', '.join(missing)} ({hub_cache_hint(missing[0][4:])})"
                if missing else None)
        return cached, with_demo_zoo, note
    from graftline.models.hub import hub_repo

    repo = hub_repo(defaults[0].removeprefix("hub:"))
    return [], True, (f"none of the default ImageNet candidates ({', '.join(defaults)}) is in the Hugging Face cache, "
                      "so the project uses the demo zoo: stages demo and zoo pretrain two small models on rendered "
                      "digits and letters, offline. For ImageNet weights, put them in the cache (`hf download "
                      f"{repo} model.safetensors config.json` where there is internet, same HF_HOME) and init with "
                      f"--candidate {defaults[0]}.")


def docs_link(project: Path) -> str:
    """Where the params reference is, from the project: docs/reference/params.md beside the installed graftline (a
    source or editable install; generated from the config models), relative when it can be; else the command that
    prints it."""
    import os

    import graftline

    readme = Path(graftline.__file__).resolve().parents[2] / "docs" / "reference" / "params.md"
    if not readme.is_file():
        return "`graftline params`"
    try:
        where = os.path.relpath(readme, project)
    except ValueError:  # another drive (Windows)
        where = str(readme)
    return f"`graftline params`; the same list with background in {where}"
