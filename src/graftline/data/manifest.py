"""The manifest: the one table every stage reads.

``data/prepared/manifest.csv`` has one row per image: ``path`` (relative to the data root, POSIX separators),
``label``, ``split`` (train | val | test), ``sha256``, ``width``, ``height``, ``mode``. ``classes.json`` lists the
classes in index order; ``meta.json`` records the data root and the data hash (sha256 of the manifest) that every
model trained on it carries as lineage. Reading a folder or a CSV into rows is ``sources``; splitting is ``splits``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from graftline.errors import DataError

SPLITS = ("train", "val", "test")
COLUMNS = ["path", "label", "split", "sha256", "width", "height", "mode"]


@dataclass(slots=True)  # no __dict__: a row per image is ~100 bytes less
class Row:
    path: str
    label: str
    split: str = ""
    sha256: str = ""
    width: int | None = None
    height: int | None = None
    mode: str = ""


def write_manifest(path: Path, chunks: Iterable[list[list]]) -> str:
    """Write ``manifest.csv`` from chunks of records (the ``COLUMNS`` values; None for a missing size): a header,
    then one CSV line per record, "\n"-terminated, never all in memory; returns the sha256 of the bytes (the data
    hash)."""
    h = hashlib.sha256()
    header = True
    with path.open("wb") as f:
        for chunk in chunks:  # (no enumerate: its cached tuple would hold each chunk while the next one is made)
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            if header:
                w.writerow(COLUMNS)
                header = False
            w.writerows([v if v is not None else "" for v in rec] for rec in chunk)
            data = buf.getvalue().encode()
            del chunk, buf, w  # one chunk's strings at a time
            h.update(data)
            f.write(data)
    return h.hexdigest()


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
