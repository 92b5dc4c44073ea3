"""Near-duplicate search by multi-index hashing returns exactly the all-pairs answer, without N^2 work."""

import time

import numpy as np
import pytest

from graftline.data.dupes import near_pairs, near_pairs_brute


def planted(n: int, seed: int, near: int = 300, max_flip: int = 8, clumps: int = 5) -> list[str]:
    """Random 64-bit hashes, ``near`` of them copies of another with 0..max_flip bits flipped, a few clumps of
    identical hashes (blank images), and some rows without a hash (undecodable files)."""
    rng = np.random.default_rng(seed)
    vals = [int(v) for v in rng.integers(0, 2**64, n, dtype=np.uint64)]
    for _ in range(near):
        i, j = rng.integers(0, n, 2)
        v = vals[i]
        for bit in rng.choice(64, int(rng.integers(0, max_flip + 1)), replace=False):
            v ^= 1 << int(bit)
        vals[j] = v
    for _ in range(clumps):
        members = rng.choice(n, int(rng.integers(2, 30)), replace=False)
        for m in members:
            vals[m] = vals[members[0]]
    out = [f"{v:016x}" for v in vals]
    for i in rng.choice(n, 20, replace=False):
        out[i] = ""
    return out


@pytest.mark.parametrize("d", [0, 1, 2, 4, 6, 7, 10])
def test_multi_index_equals_brute_force(d):
    hashes = planted(3000, seed=d)
    fast, slow = near_pairs(hashes, d), near_pairs_brute(hashes, d)
    assert fast == slow
    assert any(x > 0 for *_, x in fast) or d == 0  # planted near (not only identical) pairs were found


def test_multi_index_grows_slower_than_n_squared():
    """8x the hashes: all-pairs work grows 64x; the index (linear terms + N^2 / 2^13 candidates at d=4) far less."""
    def best_of_3(hashes):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            near_pairs(hashes, 4)
            times.append(time.perf_counter() - t0)
        return min(times)

    small, large = planted(10000, 1, near=100), planted(80000, 2, near=800)
    ratio = best_of_3(large) / best_of_3(small)
    assert ratio < 25, ratio
