"""Fashion-MNIST as the image folder a user would have: ``<class>/<n>.png`` plus ``manifest.csv`` (path,label,split).

The images come from Debian's ``dataset-fashion-mnist`` (MIT; idx files in /usr/share/datasets/fashion-mnist). The
training and validation images are drawn from the official training set, the test images from the official test
set (t10k), each class equally (per class, a seeded draw): the verdict is measured on images no split of the
training file can hold. The manifest names the splits, so `graftline init --csv` keeps them as they are.

    python examples/fashion/data.py OUT --per-class 10 [--val-per-class 10] [--test 1000] [--classes 10]
"""

from __future__ import annotations

import argparse
import csv
import gzip
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "t10k": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def missing_reason(root: Path = FASHION_DIR) -> str | None:
    """Why the data set cannot be read here (None: it can)."""
    absent = [f for pair in FILES.values() for f in pair if not (root / f).is_file()]
    if absent:
        return (f"Fashion-MNIST is not in {root} (missing {', '.join(absent)}): install Debian's package, "
                "`sudo apt-get install -y dataset-fashion-mnist` (`make fashion` does it when run as root)")
    return None


def read_idx(path: Path) -> np.ndarray:
    """An idx file (big-endian header: magic with the number of dimensions, then each dimension) as uint8."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(part: str, root: Path = FASHION_DIR) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (read_idx(root / f) for f in FILES[part])
    return images, labels


def _draw(labels: np.ndarray, per_class: list[int], classes: int, rng: np.random.Generator) -> list[list[int]]:
    """Per class, disjoint seeded draws of the given sizes (indices into the file)."""
    out: list[list[int]] = [[] for _ in per_class]
    for k in range(classes):
        idx = rng.permutation(np.flatnonzero(labels == k))
        start = 0
        for j, n in enumerate(per_class):
            if start + n > len(idx):
                raise SystemExit(f"class {CLASSES[k]}: {n} images asked, {len(idx) - start} left in the file")
            out[j].extend(int(i) for i in idx[start:start + n])
            start += n
    return out


def write(out: Path, per_class: int, val_per_class: int | None = None, test: int = 1000, classes: int = 10,
          seed: int = 0, root: Path = FASHION_DIR) -> dict:
    """Write the folder and its manifest; return the counts per split."""
    from PIL import Image

    if (why := missing_reason(root)) is not None:
        raise SystemExit(why)
    val_per_class = per_class if val_per_class is None else val_per_class
    rng = np.random.default_rng(seed)
    tr_x, tr_y = load("train", root)
    te_x, te_y = load("t10k", root)
    train, val = _draw(tr_y, [per_class, val_per_class], classes, rng)
    (test_idx,) = _draw(te_y, [test // classes], classes, rng)
    out.mkdir(parents=True, exist_ok=True)
    rows, n = [], 0
    for split, (x, y, idx) in {"train": (tr_x, tr_y, train), "val": (tr_x, tr_y, val),
                               "test": (te_x, te_y, test_idx)}.items():
        for i in idx:
            rel = f"{CLASSES[y[i]]}/{n:05d}.png"
            (out / CLASSES[y[i]]).mkdir(exist_ok=True)
            Image.fromarray(x[i], mode="L").save(out / rel)
            rows.append((rel, CLASSES[y[i]], split))
            n += 1
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split"])
        w.writerows(rows)
    return {s: sum(1 for r in rows if r[2] == s) for s in ("train", "val", "test")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-class", type=int, default=10, help="labelled training images per class")
    ap.add_argument("--val-per-class", type=int, default=None, help="validation images per class (default: as train)")
    ap.add_argument("--test", type=int, default=1000, help="test images, from the official test set, equal per class")
    ap.add_argument("--classes", type=int, default=10, help="the first N classes only (smaller runs)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    counts = write(a.out, a.per_class, a.val_per_class, a.test, a.classes, a.seed)
    print(f"fashion data: {a.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
