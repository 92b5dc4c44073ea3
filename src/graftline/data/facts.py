"""Per-image facts, computed in parallel and cached by content.

One fact row per image: bytes, sha256, width, height (after EXIF orientation), the source mode, decodable, the
decode error, mean/std intensity (0..255, on the colour policy's grayscale) and a 64-bit perceptual hash
(``imagehash.phash``). Facts depend only on the file's bytes and on the decode policy, so they are cached in a
SQLite table keyed by (sha256, policy): re-validating after adding ten images decodes ten images. Workers stream
their results back; no image is held in memory beyond the one being decoded.

Memory is a few numpy columns per image (``Facts``: raw sha256 digests, ints, floats, the perceptual hash as a
uint64), not Python objects: a dict or a hex string per image costs ~1-2 KB, and at 10^5 images that is what the
stage's peak memory grows with. Strings are made one chunk of rows at a time, when the CSV is written.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import warnings
from contextlib import closing, contextmanager, nullcontext
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

FACTS_VERSION = 1  # bump when a fact's definition changes: old cache entries are then ignored
FACT_FIELDS = ["width", "height", "mode", "decodable", "error", "mean", "std", "phash"]
# Below this many images to decode, starting worker processes costs more than it saves.
MIN_PARALLEL = 256
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def policy_key(max_pixels: int, color_mode: str) -> str:
    return hashlib.sha256(json.dumps([FACTS_VERSION, max_pixels, color_mode]).encode()).hexdigest()[:16]


def sha256_file(path: Path) -> tuple[str, int]:
    digest, n = _digest_file(path)
    return digest.hex(), n


def _digest_file(path: Path) -> tuple[bytes, int]:
    h = hashlib.sha256()
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.digest(), n


def hex_digests(raw: np.ndarray) -> list[str]:
    """Raw 32-byte digests (an ``S32`` array) -> their lowercase hex strings."""
    b = np.ascontiguousarray(raw).view(np.uint8).reshape(len(raw), 32)
    out = np.empty((len(raw), 64), np.uint8)
    out[:, 0::2], out[:, 1::2] = _HEX[b >> 4], _HEX[b & 15]
    return out.view("S64").ravel().astype(str).tolist()


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


def _work(job: tuple[int, str, int, str]) -> tuple[int, dict]:
    key, path, max_pixels, color_mode = job
    return key, image_fact(Path(path), max_pixels, color_mode)


class Facts:
    """The facts of n images as columns (row i is ``paths[i]``, a list or numpy string array); ``frame(a, b)`` gives
    rows a..b as ``facts.csv`` holds them (hex sha256 and phash, ``width``/``height`` floats if any is missing)."""

    def __init__(self, paths: Sequence[str] | np.ndarray, sha: np.ndarray, size: np.ndarray, n: int):
        self.paths, self.sha, self.bytes = paths, sha, size
        self.width = np.full(n, -1, np.int32)
        self.height = np.full(n, -1, np.int32)
        self.modes: list[str] = [""]
        self.mode = np.zeros(n, np.int16)  # index into self.modes
        self.decodable = np.zeros(n, bool)
        self.error = np.full(n, "", object)  # one shared "" unless a file failed
        self.mean = np.full(n, np.nan)
        self.std = np.full(n, np.nan)
        self.phash = np.zeros(n, np.uint64)  # valid where decodable
        self.content = np.zeros(0, np.int64)  # per row: which distinct content (equal = same sha256)

    def __len__(self) -> int:
        return len(self.paths)

    def set(self, i: int, f: dict) -> None:
        if f["mode"] not in self.modes:
            self.modes.append(f["mode"])
        self.mode[i] = self.modes.index(f["mode"])
        self.decodable[i], self.error[i] = bool(f["decodable"]), f["error"] or ""
        if f["width"] is not None:
            self.width[i], self.height[i] = f["width"], f["height"]
        if f["mean"] is not None:
            self.mean[i], self.std[i] = f["mean"], f["std"]
        if f["phash"]:
            self.phash[i] = int(f["phash"], 16)

    def expand(self, rows: np.ndarray) -> None:
        """Per unique content -> per row: ``rows`` gives each row's index into the current columns."""
        for name in ("width", "height", "mode", "decodable", "error", "mean", "std", "phash"):
            setattr(self, name, getattr(self, name)[rows])

    def frame(self, a: int = 0, b: int | None = None) -> pd.DataFrame:
        s = slice(a, len(self) if b is None else b)
        size = "float64" if (self.width < 0).any() else "int64"  # pandas' own choice for a column with a None
        wh = {k: np.where(v[s] < 0, np.nan, v[s]).astype(size) for k, v in (("width", self.width),
                                                                           ("height", self.height))}
        dec = self.decodable[s]
        return pd.DataFrame({
            "path": self.paths[s], "bytes": self.bytes[s], "sha256": hex_digests(self.sha[s]), **wh,
            "mode": np.array(self.modes, object)[self.mode[s]], "decodable": dec, "error": self.error[s],
            "mean": self.mean[s], "std": self.std[s],
            "phash": [f"{v:016x}" if d else "" for v, d in zip(self.phash[s].tolist(), dec.tolist())]})


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

    def get_many(self, shas: np.ndarray, policy: str) -> Iterator[tuple[int, dict]]:
        """(position in ``shas``, facts) for each raw digest in ``shas`` that the cache holds, 500 at a time."""
        if self.db is None:
            return
        for i in range(0, len(shas), 500):
            where = {h: i + k for k, h in enumerate(hex_digests(shas[i:i + 500]))}
            q = f"SELECT sha256, facts FROM facts WHERE policy = ? AND sha256 IN ({','.join('?' * len(where))})"
            for s, f in self.db.execute(q, [policy, *where]):
                yield where[s], json.loads(f)

    def put_many(self, items: Iterable[tuple[str, dict]], policy: str) -> None:
        if self.db is None:
            return
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?, ?)",
                                [(s, policy, json.dumps(f)) for s, f in items])

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


@contextmanager
def facts_pool(workers: int = 0) -> Iterator[Pool | None]:
    """The decoding workers (None for one), to start before any per-image data is read: a forked worker's memory
    includes what the parent held when it forked, so forked early it stays the same at 10^4 or 10^5 images."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        yield None
        return
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ctx.Pool(workers) as pool:
        yield pool


def _decode_all(jobs: Iterable[tuple[int, str, int, str]], count: int, workers: int, progress: bool,
                pool: Pool | None = None) -> Iterator[tuple[int, dict]]:
    """Decode ``count`` jobs, yielding each result as it comes (a pool's results are never collected)."""
    from tqdm import tqdm

    bar = tqdm(total=count, desc="facts: decoding", disable=not progress or count < 2000, mininterval=2.0)
    if workers <= 1 or count < MIN_PARALLEL:
        for job in jobs:
            yield _work(job)
            bar.update()
    else:
        with facts_pool(workers) if pool is None else nullcontext(pool) as pool:
            for item in pool.imap_unordered(_work, jobs, chunksize=max(1, min(64, count // (workers * 8)))):
                yield item
                bar.update()
    bar.close()


def compute_facts(root: Path, paths: Sequence[str] | np.ndarray, *, max_pixels: int, color_mode: str,
                  cache_path: Path | None, workers: int = 0, progress: bool = True,
                  pool: Pool | None = None) -> tuple[Facts, dict]:
    """Facts for ``paths`` (relative to ``root``), in the same order. Returns (facts, stats).

    Each distinct content is looked up in the cache or decoded once, by ``pool`` (``facts_pool``) when given, else
    by workers started here. stats: ``images``, ``decoded`` (cache misses actually decoded), ``cached``.
    """
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    policy = policy_key(max_pixels, color_mode)
    sha, size = np.zeros(len(paths), "S32"), np.zeros(len(paths), np.int64)
    for i, p in enumerate(tqdm(paths, desc="facts: hashing", disable=not progress or len(paths) < 2000,
                               mininterval=2.0)):
        sha[i], size[i] = _digest_file(root / p)
    uniq, first, inverse = np.unique(sha, return_index=True, return_inverse=True)
    facts = Facts(paths, sha, size, len(uniq))  # one row per distinct content until expand()
    known = np.zeros(len(uniq), bool)
    with closing(FactsCache(cache_path)) as cache:
        for u, fact in cache.get_many(uniq, policy):
            facts.set(u, fact)
            known[u] = True
        todo = np.flatnonzero(~known)
        todo = todo[np.argsort(first[todo], kind="stable")]  # decoded in the order of the rows
        jobs = ((int(u), str(root / paths[first[u]]), max_pixels, color_mode) for u in todo)
        batch: list[tuple[str, dict]] = []
        for u, fact in _decode_all(jobs, len(todo), workers, progress, pool):
            facts.set(u, fact)
            batch.append((hex_digests(uniq[u:u + 1])[0], fact))
            if len(batch) >= 1000:  # stream into the cache: an interrupted run keeps what it decoded
                cache.put_many(batch, policy)
                batch = []
        cache.put_many(batch, policy)
    facts.content = inverse.ravel()
    facts.expand(facts.content)
    return facts, {"images": len(paths), "decoded": len(todo), "cached": len(uniq) - len(todo)}
