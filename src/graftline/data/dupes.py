"""Exact and near duplicates: which images share bytes (sha256) or look alike (perceptual-hash distance <= t).

Near duplicates are found with multi-index hashing: the 64-bit perceptual hash is cut into d+1 blocks, and two hashes
within Hamming distance d agree exactly on at least one block (pigeonhole). Rows are bucketed by each block; only
rows sharing a bucket are compared (XOR + popcount), so the work grows with N times the bucket sizes, not N^2, and
the answer is exactly the all-pairs one (``near_pairs_brute``, kept as the reference the tests compare against).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

BLOCK = 512


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(-1)  # numpy < 2


def hashes_to_uint64(phashes: list[str] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Hex perceptual hashes -> (uint64 values, index of the rows that have one)."""
    idx = np.array([i for i, h in enumerate(phashes) if isinstance(h, str) and h], dtype=np.int64)
    vals = np.array([int(phashes[i], 16) for i in idx], dtype=np.uint64)
    return vals, idx


def _block_candidates(keys: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair (a, b), a < b, of positions whose ``keys`` are equal: sort, then pair each row with the next
    o-th row of its run for o = 1, 2, ... while any run is longer than o (the work is the number of pairs). Yields
    the pairs one offset o at a time, so that the caller can verify them without holding every candidate."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    n = len(k)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    run_end = np.repeat(np.r_[starts[1:], n], np.diff(np.r_[starts, n]))  # one past the end of each row's run
    active = np.flatnonzero(run_end - np.arange(n) > 1)
    o = 1
    while len(active):
        a, b = order[active], order[active + o]
        yield np.minimum(a, b), np.maximum(a, b)
        o += 1
        active = active[run_end[active] - active > o]


def near_pairs(phashes: list[str] | pd.Series, max_distance: int,
               stats: dict | None = None) -> list[tuple[int, int, int]]:
    """All pairs (i, j, distance) with i < j and Hamming distance <= max_distance between their hashes, ordered by
    (i, j): multi-index hashing over max_distance + 1 blocks of the hash (see the module docstring); distances
    above 7 (blocks under 8 bits) use the all-pairs comparison. ``stats``, if given, gets ``compared``: the number
    of pairs whose distance was computed (the work the index saves)."""
    return near_pairs_u64(*hashes_to_uint64(list(phashes)), max_distance, stats)


def near_pairs_u64(vals: np.ndarray, idx: np.ndarray, max_distance: int,
                   stats: dict | None = None) -> list[tuple[int, int, int]]:
    """``near_pairs`` on hashes already as uint64 values, ``idx`` the row of each (rows without a hash left out)."""
    n, d = len(vals), int(max_distance)
    stats = {} if stats is None else stats
    stats["compared"] = 0
    if d < 0 or n < 2:
        return []
    if d + 1 > 8 or n <= BLOCK:  # blocks under 8 bits bucket little away; tiny inputs: the brute force is cheaper
        stats["compared"] = n * (n - 1) // 2
        return _brute(vals, idx, max_distance)
    edges = np.linspace(0, 64, d + 2).round().astype(int)  # d + 1 blocks covering the 64 bits
    codes = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        keys = (vals >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        for a, b in _block_candidates(keys):  # verify candidates as they come: memory O(n), not O(candidates)
            near = _popcount(vals[a] ^ vals[b]) <= d
            stats["compared"] += len(a)
            codes.append(a[near] * n + b[near])
    code = np.sort(np.concatenate(codes)) if codes else np.empty(0, np.int64)
    code = code[np.r_[True, code[1:] != code[:-1]]] if len(code) else code  # a pair found by several blocks
    a, b = code // n, code % n
    dist = _popcount(vals[a] ^ vals[b]).astype(np.int64)
    return [(int(i), int(j), int(x)) for i, j, x in zip(idx[a], idx[b], dist)]


def near_pairs_brute(phashes: list[str] | pd.Series, max_distance: int) -> list[tuple[int, int, int]]:
    """The all-pairs reference (blocks of XOR + popcount): exact, but N^2 comparisons."""
    return _brute(*hashes_to_uint64(list(phashes)), max_distance)


def _brute(vals: np.ndarray, idx: np.ndarray, max_distance: int) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    n = len(vals)
    for start in range(0, n, BLOCK):
        block = vals[start:start + BLOCK]
        d = _popcount(block[:, None] ^ vals[None, start:])  # only the upper triangle: columns from `start` on
        a, b = np.nonzero(d <= max_distance)
        keep = b > a
        for i, j in zip(a[keep], b[keep]):
            out.append((int(idx[start + i]), int(idx[start + j]), int(d[i, j])))
    return out


def duplicate_columns(df: pd.DataFrame, max_distance: int) -> pd.DataFrame:
    """Add the duplicate facts the rules check, one column each:

    * ``splits_with_same_image``: distinct splits holding the same bytes (1 is the only acceptable answer);
    * ``copies_in_same_split``: images with the same bytes in this image's split (1 = no duplicate);
    * ``labels_with_same_image``: distinct labels on the same bytes (1 = consistent);
    * ``near_duplicate_in_other_split``: the path of a look-alike (distance <= t, different bytes) in another
      split, or "" — with the distance in ``near_duplicate_distance``.

    Same bytes: equal ``content`` ids where the table has them (``graftline.validate.suite.read_facts``), else equal
    ``sha256``. Perceptual hashes: ``phash`` as uint64 with ``phash_ok``, or as hex strings. The counts are made on
    integer codes, and the result shares the input's columns (a shallow copy), so nothing per image is duplicated.
    """
    df = df.copy(deep=False)
    n = len(df)
    same = df["content"].to_numpy() if "content" in df else pd.factorize(df["sha256"])[0] if n else np.zeros(0, int)
    split, n_splits = _codes(df["split"]) if n else (np.zeros(0, int), 1)
    label, n_labels = _codes(df["label"]) if n else (np.zeros(0, int), 1)
    df["splits_with_same_image"] = _distinct_per(same, split, n_splits)
    _, at, copies = np.unique(same * n_splits + split, return_inverse=True, return_counts=True)
    df["copies_in_same_split"] = copies[at.ravel()].astype(np.int64)
    df["labels_with_same_image"] = _distinct_per(same, label, n_labels)
    if "phash_ok" in df:
        idx = np.flatnonzero(df["phash_ok"].to_numpy())
        pairs = near_pairs_u64(df["phash"].to_numpy()[idx], idx, max_distance)
    else:
        pairs = near_pairs(df["phash"].tolist() if "phash" in df else [], max_distance)
    partner = np.full(n, "", dtype=object)
    dist = np.full(n, -1, dtype=np.int64)
    splits, paths = df["split"].to_numpy(), df["path"].to_numpy()
    for i, j, d in pairs:
        if splits[i] != splits[j] and same[i] != same[j]:
            for a, b in ((i, j), (j, i)):
                if not partner[a] or d < dist[a]:
                    partner[a], dist[a] = f"{paths[b]} ({splits[b]})", d
    df["near_duplicate_in_other_split"] = partner
    df["near_duplicate_distance"] = dist
    return df


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64), max(len(uniques), 1)


def _distinct_per(group: np.ndarray, value: np.ndarray, n_values: int) -> np.ndarray:
    """For each row: how many distinct ``value``s the rows of its ``group`` hold."""
    if not len(group):
        return np.zeros(0, np.int64)
    pairs = np.unique(group.astype(np.int64) * n_values + value)
    return np.bincount(pairs // n_values, minlength=int(group.max()) + 1)[group].astype(np.int64)
