"""Near-duplicate search by multi-index hashing returns exactly the all-pairs answer, without N^2 work."""

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


def test_multi_index_compares_far_fewer_than_all_pairs():
    """At d=4 the 64 bits make 5 blocks of ~13 bits: random hashes share a block value with probability ~2^-13, so
    the index verifies about 5 N^2 / 2^14 pairs (plus the planted ones), not the N^2 / 2 of all pairs. The count is
    the work itself, so this holds on any machine (the timing lives in benchmarks/dupes_scaling.py)."""
    n = 40000
    stats: dict = {}
    pairs = near_pairs(planted(n, 2, near=400), 4, stats)
    assert len(pairs) >= 300  # the planted near pairs and clumps were found...
    assert len(pairs) <= stats["compared"] < n**2 / 1000, stats  # ...by verifying a small fraction of all pairs
    small: dict = {}
    near_pairs(planted(400, 3), 4, small)  # under one brute-force block: every pair is compared, and counted
    assert small["compared"] == 380 * 379 // 2  # 400 rows, 20 of them without a hash (left out)
