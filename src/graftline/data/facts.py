"""Per-image facts, computed in parallel and cached by content.

One fact row per image: bytes, sha256, width, height (after EXIF orientation), the source mode, decodable, the
decode error, mean/std intensity (0..255, on the colour policy's grayscale) and a 64-bit perceptual hash
(``imagehash.phash``). Facts depend only on the file's bytes and on the decode policy, so they are cached in a
SQLite table keyed by (sha256, policy): re-validating after adding ten images decodes ten images. Workers stream
their results back; no image is held in memory beyond the one being decoded.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import warnings
from contextlib import closing
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

FACTS_VERSION = 1  # bump when a fact's definition changes: old cache entries are then ignored
FACT_FIELDS = ["width", "height", "mode", "decodable", "error", "mean", "std", "phash"]
# Below this many images to decode, starting worker processes costs more than it saves.
MIN_PARALLEL = 256


def policy_key(max_pixels: int, color_mode: str) -> str:
    return hashlib.sha256(json.dumps([FACTS_VERSION, max_pixels, color_mode]).encode()).hexdigest()[:16]


def sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def image_fact(path: Path, max_pixels: int, color_mode: str) -> dict:
    """Fully decode ``path`` through the colour policy; every failure is a fact, never an exception."""
    import imagehash

    from graftline.data.images import TooManyPixels, normalise, open_image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_image(path, max_pixels) as raw:
                mode = raw.mode
                raw.load()  # the whole first frame: a truncated file fails here, not at the header
                im = normalise(raw, color_mode)
        gray = im if im.mode == "L" else im.convert("L")
        a = np.asarray(gray, dtype=np.float32)
        return {"width": im.width, "height": im.height, "mode": mode, "decodable": True, "error": "",
                "mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4),
                "phash": str(imagehash.phash(gray))}
    except TooManyPixels as exc:
        return _undecodable(f"decompression-bomb guard: {exc}")
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the fact we report
        msg = str(exc) or type(exc).__name__
        return _undecodable(f"{type(exc).__name__}: {msg}"[:300])


def _undecodable(error: str) -> dict:
    return {"width": None, "height": None, "mode": "", "decodable": False, "error": error, "mean": None,
            "std": None, "phash": ""}


def _work(job: tuple[str, str, int, str]) -> tuple[str, dict]:
    sha, path, max_pixels, color_mode = job
    return sha, image_fact(Path(path), max_pixels, color_mode)


class FactsCache:
    """(sha256, policy) -> facts, in one SQLite file; safe to delete (it is only a cache)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS facts (sha256 TEXT, policy TEXT, facts TEXT, "
                            "PRIMARY KEY (sha256, policy))")

    def get_many(self, shas: list[str], policy: str) -> dict[str, dict]:
        if self.db is None or not shas:
            return {}
        out: dict[str, dict] = {}
        for i in range(0, len(shas), 500):
            chunk = shas[i:i + 500]
            q = f"SELECT sha256, facts FROM facts WHERE policy = ? AND sha256 IN ({','.join('?' * len(chunk))})"
            out.update({s: json.loads(f) for s, f in self.db.execute(q, [policy, *chunk])})
        return out

    def put_many(self, items: Iterable[tuple[str, dict]], policy: str) -> None:
        if self.db is None:
            return
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?, ?)",
                                [(s, policy, json.dumps(f)) for s, f in items])

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _decode_all(jobs: list[tuple[str, str, int, str]], workers: int, progress: bool) -> Iterator[tuple[str, dict]]:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="facts: decoding", disable=not progress or len(jobs) < 2000, mininterval=2.0)
    if workers <= 1 or len(jobs) < MIN_PARALLEL:
        for job in jobs:
            yield _work(job)
            bar.update()
    else:
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        with ctx.Pool(workers) as pool:
            for item in pool.imap_unordered(_work, jobs, chunksize=max(1, min(64, len(jobs) // (workers * 8)))):
                yield item
                bar.update()
    bar.close()


def compute_facts(root: Path, paths: list[str], *, max_pixels: int, color_mode: str, cache_path: Path | None,
                  workers: int = 0, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Facts for ``paths`` (relative to ``root``), in the same order. Returns (facts, stats).

    stats: ``images``, ``decoded`` (cache misses actually decoded), ``cached``.
    """
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    policy = policy_key(max_pixels, color_mode)
    hashes = []
    for p in tqdm(paths, desc="facts: hashing", disable=not progress or len(paths) < 2000, mininterval=2.0):
        hashes.append(sha256_file(root / p))
    with closing(FactsCache(cache_path)) as cache:
        # Facts are kept as tuples (not dicts) and images are never kept: memory is a small row per image.
        known = {h: tuple(f[k] for k in FACT_FIELDS)
                 for h, f in cache.get_many(sorted({h for h, _ in hashes}), policy).items()}
        todo: dict[str, str] = {}
        for p, (h, _) in zip(paths, hashes):
            if h not in known and h not in todo:
                todo[h] = str(root / p)
        batch: list[tuple[str, dict]] = []
        for sha, fact in _decode_all([(h, p, max_pixels, color_mode) for h, p in todo.items()], workers, progress):
            known[sha] = tuple(fact[k] for k in FACT_FIELDS)
            batch.append((sha, fact))
            if len(batch) >= 1000:  # stream into the cache: an interrupted run keeps what it decoded
                cache.put_many(batch, policy)
                batch = []
        cache.put_many(batch, policy)
    df = pd.DataFrame.from_records([(p, n, h, *known[h]) for p, (h, n) in zip(paths, hashes)],
                                   columns=["path", "bytes", "sha256", *FACT_FIELDS])
    return df, {"images": len(paths), "decoded": len(todo), "cached": len(set(h for h, _ in hashes)) - len(todo)}
