"""The manifest: the one table every stage reads.

``data/prepared/manifest.csv`` has one row per image: ``path`` (relative to the data root, POSIX separators),
``label``, ``split`` (train | val | test), ``sha256``, ``width``, ``height``, ``mode``. ``classes.json`` lists the
classes in index order; ``meta.json`` records the data root and the data hash (sha256 of the manifest) that every
model trained on it carries as lineage.

Inputs: an image folder ``root/<class>/**/<image>`` or a CSV with columns ``path,label[,split]`` whose paths are
relative to the CSV's folder. Paths that escape the data root are rejected before any file is opened.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graftline.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
SPLITS = ("train", "val", "test")
COLUMNS = ["path", "label", "split", "sha256", "width", "height", "mode"]


@dataclass
class Row:
    path: str
    label: str
    split: str = ""
    sha256: str = ""
    width: int | None = None
    height: int | None = None
    mode: str = ""


def _inside(root: Path, rel: str, where: str) -> Path:
    """Resolve ``rel`` under ``root`` and refuse anything that escapes it (absolute, ``..``, symlinks out)."""
    if not rel or rel.strip() != rel:
        raise DataError(f"{where}: path {rel!r} is empty or has surrounding spaces. Fix the path.")
    p = Path(rel)
    if p.is_absolute() or p.drive:
        raise DataError(f"{where}: path {rel!r} is absolute. Paths must be relative to {root}.")
    full = (root / p).resolve()
    if not full.is_relative_to(root.resolve()):
        raise DataError(f"{where}: path {rel!r} escapes the data root {root}. Keep images inside it.")
    return full


def scan_folder(root: Path) -> list[Row]:
    """``root/<class>/**/<image>`` -> rows. Hidden files and non-image suffixes are skipped."""
    if not root.is_dir():
        raise DataError(
            f"{root}: data.root is not a directory. For data.source: folder, point data.root at a folder laid out "
            "as <class>/<image>; for a CSV manifest set data.source: csv."
        )
    rows = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(class_dir.rglob("*")):
            if f.name.startswith(".") or f.suffix.lower() not in IMAGE_SUFFIXES or not f.is_file():
                continue
            rel = f.relative_to(root).as_posix()
            _inside(root, rel, str(f))  # a symlink may point outside the root
            rows.append(Row(path=rel, label=class_dir.name))
    return rows


def read_csv(csv_path: Path) -> list[Row]:
    """A CSV manifest ``path,label[,split]`` -> rows; paths are relative to the CSV's folder."""
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: data.root must be a CSV file when data.source is csv.")
    text = csv_path.read_text(encoding="utf-8-sig")  # tolerate a BOM
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in ("path", "label") if c not in cols]
    unknown = [c for c in cols if c not in ("path", "label", "split")]
    if missing or unknown:
        raise DataError(
            f"{csv_path}: columns must be path,label[,split]; "
            + (f"missing {', '.join(missing)}; " if missing else "")
            + (f"unknown {', '.join(unknown)}; " if unknown else "")
            + f"found {', '.join(cols) or 'none'}."
        )
    root = csv_path.parent
    rows = []
    for line, rec in enumerate(reader, start=2):
        rec = {k.strip(): (v or "").strip() for k, v in rec.items() if k is not None}
        where = f"{csv_path}:{line}"
        if not rec["label"]:
            raise DataError(f"{where}: empty label. Every row needs a label.")
        split = rec.get("split", "")
        if split and split not in SPLITS:
            raise DataError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}.")
        full = _inside(root, rec["path"], where)
        if not full.is_file():
            raise DataError(f"{where}: file {rec['path']!r} does not exist under {root}.")
        rows.append(Row(path=Path(rec["path"]).as_posix(), label=rec["label"], split=split))
    return rows


def probe(root: Path, row: Row) -> Row:
    """sha256 of the bytes plus width/height/mode from the header (no full decode: validate does that)."""
    from PIL import Image

    data = (root / row.path).read_bytes()
    row.sha256 = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
            row.width, row.height, row.mode = im.width, im.height, im.mode
    except Exception:  # noqa: BLE001 - an unreadable header is a fact for validate to report, not a crash
        row.width = row.height = None
        row.mode = ""
    return row


def assign_splits(rows: list[Row], *, val_fraction: float, test_fraction: float, seed: int,
                  train_per_class: int | None, val_per_class: int | None) -> list[Row]:
    """Stratified train/val/test split that keeps identical images (same sha256) in the same split.

    Rows that already carry a split (from a CSV) keep it. ``train_per_class``/``val_per_class`` then keep only the
    first N images per class of those splits (the few-label regime); the others are left out of the manifest.
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.sha256, []).append(r)
    # Identical bytes go together; a group takes the split any member was given.
    for members in groups.values():
        given = next((m.split for m in members if m.split), "")
        for m in members:
            m.split = m.split or given
    by_class: dict[str, list[list[Row]]] = {}
    for members in groups.values():
        if not members[0].split:
            by_class.setdefault(members[0].label, []).append(members)
    for label in sorted(by_class):
        class_groups = by_class[label]
        order = rng.permutation(len(class_groups))
        n = len(class_groups)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3:  # every split gets at least one image of every class when it can
            n_test, n_val = max(n_test, 1), max(n_val, 1) if val_fraction > 0 else 0
        for rank, gi in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            for m in class_groups[gi]:
                m.split = split
    caps = {"train": train_per_class, "val": val_per_class}
    counts: dict[tuple[str, str], int] = {}
    order = rng.permutation(len(rows))  # the subset kept is random, not the first files by name
    chosen = set()
    for i in order:
        r = rows[i]
        cap = caps.get(r.split)
        key = (r.split, r.label)
        if cap is not None and counts.get(key, 0) >= cap:
            continue
        counts[key] = counts.get(key, 0) + 1
        chosen.add(i)
    return [r for i, r in enumerate(rows) if i in chosen]


def manifest_bytes(rows: list[Row]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.path, r.label, r.split, r.sha256, "" if r.width is None else r.width,
                    "" if r.height is None else r.height, r.mode])
    return buf.getvalue().encode()


def read_manifest(prepared: Path) -> tuple[list[Row], list[str], dict]:
    """Load ``data/prepared``: rows, classes, meta (root, data_hash)."""
    mpath = prepared / "manifest.csv"
    if not mpath.is_file():
        raise DataError(f"{mpath}: no manifest. Run `graftline prepare` (or `dvc repro prepare`) first.")
    rows = []
    with mpath.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            rows.append(Row(path=rec["path"], label=rec["label"], split=rec["split"], sha256=rec["sha256"],
                            width=int(rec["width"]) if rec["width"] else None,
                            height=int(rec["height"]) if rec["height"] else None, mode=rec["mode"]))
    classes = json.loads((prepared / "classes.json").read_text())
    meta = json.loads((prepared / "meta.json").read_text())
    return rows, classes, meta


def write_prepared(out: Path, rows: list[Row], classes: list[str], meta: dict) -> None:
    """Write manifest.csv, classes.json and meta.json into ``out`` as one atomic directory swap."""
    from graftline.project import atomic_dir

    with atomic_dir(out) as tmp:
        (tmp / "manifest.csv").write_bytes(manifest_bytes(rows))
        (tmp / "classes.json").write_text(json.dumps(classes, indent=2))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
