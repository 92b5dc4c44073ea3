"""The prepare stage: an image folder or CSV/parquet manifest -> ``data/staged`` (manifest, classes, meta, facts).

The manifest reader rejects what must never reach the rules (paths escaping the data root, missing files, bad
columns, empty labels, labels equal but for case, an empty dataset) with a ``DataError``. Every image is then
decoded once (in parallel, cached by sha256: ``data/cache/facts.sqlite``) into the facts the validate stage's rules
check, and split. ``validate`` publishes the staged data to ``data/prepared`` only when every error rule passes, so
a failure at either stage leaves ``data/prepared`` as it was.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from graftline.config import DataParams, DemoParams
from graftline.data import demo
from graftline.data.manifest import SPLITS, write_manifest
from graftline.data.sources import Images, read_csv, reject, scan_folder
from graftline.data.splits import assign_splits
from graftline.atomic import atomic_dir
from graftline.results import PrepareResult
from graftline.data.dupes import near_pairs_u64
from graftline.data.facts import Facts, compute_facts, facts_pool, hex_digests

FACT_COLUMNS = ["path", "label", "split", "kept", "bytes", "sha256", "width", "height", "mode", "decodable",
                "error", "mean", "std", "phash"]
CHUNK = 10_000  # rows per chunk when the tables are written
log = logging.getLogger(__name__)


def facts_cache(project_root: Path) -> Path:
    return project_root / "data" / "cache" / "facts.sqlite"


def run_prepare(p: DataParams, project_root: Path, out: Path, demo_params: DemoParams | None = None,
                progress: bool = True) -> PrepareResult:
    """Scan the data, compute every image's facts, split, and write ``out`` atomically.

    With ``data.source: demo`` and no data at ``data.root`` yet, the embedded default is generated first (the DVC
    pipeline has a ``demo`` stage for that). Returns the meta (counts per split, data hash, facts cache stats).
    """
    root = (project_root / p.root)
    if p.source == "demo" and not root.exists():
        dp = demo_params or DemoParams()
        if root.name != "digits":
            raise reject(f"data.root = {p.root!r}", "data_root", "with data.source: demo the images are generated "
                         "into <dir>/digits", "Use data.root: data/demo/digits (or data.source: folder for your "
                         "images).")
        demo.generate(root.parent, dp.source_per_class, dp.source_eval_fraction, dp.seed, dp.letters_per_class)
    with facts_pool(p.workers) as pool:  # forked before the rows exist: the workers' memory does not grow with them
        if p.source == "csv":
            images, data_root = read_csv(root), root.parent
        else:
            images, data_root = scan_folder(root), root
        facts, stats = compute_facts(data_root, images.paths, max_pixels=p.max_pixels, color_mode=p.color_mode,
                                     cache_path=facts_cache(project_root), workers=p.workers, progress=progress,
                                     pool=pool)
    # Every scanned row is split and goes to facts.csv (the rules see every file); the few-label subsample is
    # drawn from the rows that decode, and only the kept rows go to the manifest.
    split, kept = assign_splits(images.label, images.split, facts.content, val_fraction=p.val_fraction,
                                test_fraction=p.test_fraction, seed=p.seed, train_per_class=p.train_per_class,
                                val_per_class=p.val_per_class, together=_look_alikes(facts, p.near_duplicate_distance),
                                eligible=facts.decodable, digest=facts.sha)
    subsample = _subsample_record(p, split, kept)
    rel_root = data_root.resolve().relative_to(project_root.resolve()).as_posix() \
        if data_root.resolve().is_relative_to(project_root.resolve()) else str(data_root.resolve())
    counts = dict(zip(SPLITS, np.bincount(split[kept], minlength=len(SPLITS)).tolist()))
    labels, splits = np.array(images.classes, object), np.array(SPLITS, object)
    with atomic_dir(out) as tmp:
        # Both tables are written a chunk of rows at a time: only numpy columns are held per image.
        data_hash = write_manifest(tmp / "manifest.csv", _manifest_chunks(images, split, kept, facts))
        meta = PrepareResult(root=rel_root, source=p.source, data_hash=data_hash, images=int(kept.sum()),
                             splits=counts, scanned=len(images), color_mode=p.color_mode, max_pixels=p.max_pixels,
                             subsample=subsample, facts={"decoded": stats["decoded"], "cached": stats["cached"]})
        (tmp / "classes.json").write_text(json.dumps(images.classes, indent=2))
        # Cache hits are not part of the data: left in meta.json they change data/staged's hash whenever the cache
        # state differs, and DVC then re-runs every stage downstream for identical data.
        (tmp / "meta.json").write_text(json.dumps(meta.model_dump(mode="json", exclude={"facts", "made_by"}), indent=2))
        with (tmp / "facts.csv").open("w", newline="", encoding="utf-8") as f:
            for a in range(0, len(images), CHUNK):
                chunk = facts.frame(a, a + CHUNK)
                chunk["label"] = labels[images.label[a:a + CHUNK]]
                chunk["split"] = splits[split[a:a + CHUNK]]
                chunk["kept"] = kept[a:a + CHUNK]
                chunk[FACT_COLUMNS].to_csv(f, header=a == 0, index=False, lineterminator="\n")
                del chunk  # before the next one is made: one chunk's strings at a time
    return meta


def _look_alikes(facts: Facts, max_distance: int) -> np.ndarray:
    """Pairs of rows (an (m, 2) array) whose perceptual hashes are within ``max_distance``: near duplicates (a resized
    or re-encoded copy), split together like identical files."""
    hashed = np.flatnonzero(facts.decodable)
    pairs = near_pairs_u64(facts.phash[hashed], hashed, max_distance)
    return np.array([(i, j) for i, j, _ in pairs], np.int64).reshape(-1, 2)


def _manifest_chunks(images: Images, split: np.ndarray, kept: np.ndarray, facts: Facts) -> Iterator[list[tuple]]:
    """The manifest's records (path, label, split, sha256, width, height, mode), CHUNK kept rows at a time."""
    rows = np.flatnonzero(kept)
    labels, splits, modes = (np.array(v, object) for v in (images.classes, SPLITS, facts.modes))
    for a in range(0, max(len(rows), 1), CHUNK):
        idx = rows[a:a + CHUNK]
        sizes = [None if v < 0 else v for v in facts.width[idx].tolist()], \
            [None if v < 0 else v for v in facts.height[idx].tolist()]
        yield list(zip(images.paths[idx].tolist(), labels[images.label[idx]], splits[split[idx]],
                       hex_digests(facts.sha[idx]), *sizes, modes[facts.mode[idx]]))


def _subsample_record(p: DataParams, split: np.ndarray, kept: np.ndarray) -> dict | None:
    """What the few-label subsample left out, per split; logged loudly when it drops a user's labelled images."""
    if p.train_per_class is None and p.val_per_class is None:
        return None
    dropped = dict(zip(SPLITS, np.bincount(split[~kept], minlength=len(SPLITS)).tolist()))
    record = {"train_per_class": p.train_per_class, "val_per_class": p.val_per_class, "dropped": dropped}
    if p.source != "demo" and sum(dropped.values()):
        log.warning("data.train_per_class=%s / val_per_class=%s: the subsample leaves %d of your %d labelled "
                    "images out of training and validation (train %d, val %d dropped). Set data.train_per_class: "
                    "null and data.val_per_class: null in params.yaml to keep every label (every file is "
                    "validated either way).", p.train_per_class, p.val_per_class, sum(dropped.values()), len(split),
                    dropped["train"], dropped["val"])
    return record
