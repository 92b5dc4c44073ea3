"""Near-duplicate search (multi-index hashing) against all pairs, as the input grows 8x.

All-pairs work grows 64x with 8x the hashes; the index's work is linear terms plus about 5 N^2 / 2^14 verified pairs
at distance 4, so its time grows far less. Prints each size's time (best of 3) and compared pairs, and the ratio of
the two times last. (tests/unit/test_dupes.py asserts the pair count, which does not depend on the machine.)
    python benchmarks/dupes_scaling.py [--small 10000 --factor 8 --distance 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from graftline.data.dupes import near_pairs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.unit.test_dupes import planted  # noqa: E402  (the same planted hashes the tests use)


def best_of_3(hashes: list[str], d: int) -> tuple[float, int]:
    times, stats = [], {}
    for _ in range(3):
        t0 = time.perf_counter()
        near_pairs(hashes, d, stats)
        times.append(time.perf_counter() - t0)
    return min(times), stats["compared"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=10000)
    ap.add_argument("--factor", type=int, default=8)
    ap.add_argument("--distance", type=int, default=4)
    a = ap.parse_args()
    sizes = (a.small, a.small * a.factor)
    results = [best_of_3(planted(n, seed, near=n // 100), a.distance) for seed, n in enumerate(sizes, 1)]
    for n, (t, compared) in zip(sizes, results):
        print(f"N={n:>7}: {t * 1000:8.1f} ms, {compared:>10} pairs compared ({compared / (n * (n - 1) / 2):.2e} "
              f"of all pairs)")
    print(f"time ratio for {a.factor}x the hashes: {results[1][0] / results[0][0]:.1f} "
          f"(all pairs: {a.factor ** 2}x)")


if __name__ == "__main__":
    main()
