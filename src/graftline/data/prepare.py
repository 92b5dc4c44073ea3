"""The prepare stage: an image folder or CSV manifest -> ``data/prepared`` (manifest, classes, meta)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tqdm import tqdm

from graftline.config import DataParams, DemoParams
from graftline.data import demo
from graftline.data.manifest import IMAGE_SUFFIXES, assign_splits, manifest_bytes, probe, read_csv, scan_folder, write_prepared
from graftline.errors import DataError


def run_prepare(p: DataParams, project_root: Path, out: Path, demo_params: DemoParams | None = None) -> dict:
    """Scan the data, probe every image (sha256, size, mode), split, and write ``out`` atomically.

    With ``data.source: demo`` and no data at ``data.root`` yet, the embedded default is generated first (the DVC
    pipeline has a ``demo`` stage for that). Returns a summary (counts per split, data hash).
    """
    root = (project_root / p.root)
    if p.source == "demo" and not root.exists():
        dp = demo_params or DemoParams()
        if root.name != "digits":
            raise DataError(f"data.root = {p.root!r}: with data.source: demo the images are generated into "
                            "<dir>/digits; use data.root: data/demo/digits (or data.source: folder for your images)")
        demo.generate(root.parent, dp.source_per_class, dp.source_eval_fraction, dp.seed)
    if p.source == "csv":
        rows = read_csv(root)
        data_root = root.parent
    else:
        rows = scan_folder(root)
        data_root = root
    if not rows:
        raise DataError(f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))} files under "
                        "<class>/ folders). Point data.root at your images.")
    for r in tqdm(rows, desc="prepare: hashing", disable=len(rows) < 2000, mininterval=2.0):
        probe(data_root, r)
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r.path in seen:
            raise DataError(f"{root}: {r.path!r} is listed twice (rows {seen[r.path] + 2} and {i + 2}). "
                            "Remove the duplicate row.")
        seen[r.path] = i
    kept = assign_splits(rows, val_fraction=p.val_fraction, test_fraction=p.test_fraction, seed=p.seed,
                         train_per_class=p.train_per_class, val_per_class=p.val_per_class)
    classes = sorted({r.label for r in rows})
    data_hash = hashlib.sha256(manifest_bytes(kept)).hexdigest()
    rel_root = data_root.resolve().relative_to(project_root.resolve()).as_posix() \
        if data_root.resolve().is_relative_to(project_root.resolve()) else str(data_root.resolve())
    counts = {s: sum(r.split == s for r in kept) for s in ("train", "val", "test")}
    meta = {"root": rel_root, "source": p.source, "data_hash": data_hash, "images": len(kept), "splits": counts,
            "scanned": len(rows)}
    write_prepared(out, kept, classes, meta)
    return meta
