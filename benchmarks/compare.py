"""The champion-vs-challenger decision's error rates on repeated draws, from real per-image predictions.

Source: ``reports/test_predictions.json`` of a pipeline run (the check stage's predictions of both arms of every
seed on the test split; the default demo: 908 test images, 5 seeds, transfer about 94.7 %, scratch about 85 %). No
training: each draw builds one "today's test split" by resampling n of those images with replacement, and compares
two real models' correctness on it with the compare stage's own code (``compare.stats``: paired bootstrap interval,
decision), at the shipped setting (non-inferiority, margin 0.02, 95 %) and at superiority with margin 0:

- ``equal``: champion and challenger are the transfer models of two different seeds (same recipe and data: equal in
  expectation): ``keep`` is the wrong call (goal: not ``keep`` in >= 90 % of draws);
- ``worse``: the challenger is a seed's scratch model (about 10 points worse): ``keep`` is right (goal >= 90 %);
- ``slightly_worse``: the champion's own predictions with 4 % of the images it gets right turned wrong (a
  challenger about 4 points worse, beyond the 2-point margin): how often ``keep`` catches a smaller loss.

    python benchmarks/compare.py [--predictions reports/test_predictions.json] [--draws 2000] [--n 908 300]

Writes benchmarks/results/compare.json; prints the headline rates last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.compare.stats import decide, paired_delta  # noqa: E402

SETTINGS = {"non_inferiority_0.02": ("non_inferiority", 0.02), "superiority_0": ("superiority", 0.0)}


def correctness(path: Path) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    d = json.loads(path.read_text())
    y = np.asarray(d["labels"])
    return ({s["seed"]: np.asarray(s["transfer"]) == y for s in d["seeds"]},
            {s["seed"]: np.asarray(s["scratch"]) == y for s in d["seeds"]})


def pair(scenario: str, transfer: dict, scratch: dict, rng) -> tuple[np.ndarray, np.ndarray]:
    """(challenger right, champion right) on the whole pool, for one draw."""
    seeds = sorted(transfer)
    a, b = rng.choice(seeds, 2, replace=False)
    champ = transfer[a]
    if scenario == "equal":
        return transfer[b], champ
    if scenario == "worse":
        return scratch[b], champ
    chal = champ.copy()  # slightly_worse
    right = np.flatnonzero(chal)
    chal[rng.choice(right, int(round(0.04 * len(chal))), replace=False)] = False
    return chal, champ


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", type=Path, default=ROOT / "reports/test_predictions.json")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--n", type=int, nargs="+", default=[908, 300])
    ap.add_argument("--bootstrap", type=int, default=2000)
    args = ap.parse_args()
    transfer, scratch = correctness(args.predictions)
    pool = len(next(iter(transfer.values())))
    out = {"predictions": str(args.predictions), "pool_images": pool, "seeds": sorted(transfer), "draws": args.draws,
           "bootstrap": args.bootstrap, "accuracy": {"transfer": {s: float(v.mean()) for s, v in transfer.items()},
                                                     "scratch": {s: float(v.mean()) for s, v in scratch.items()}},
           "results": []}
    t_all = time.perf_counter()
    for n in args.n:
        for scenario in ("equal", "worse", "slightly_worse"):
            for name, (mode, margin) in SETTINGS.items():
                rng = np.random.default_rng(zlib.crc32(f"{n}-{scenario}-{name}".encode()))
                counts = {"promote": 0, "keep": 0, "inconclusive": 0}
                deltas, t0 = [], time.perf_counter()
                for i in range(args.draws):
                    chal, champ = pair(scenario, transfer, scratch, rng)
                    idx = rng.integers(0, pool, n)
                    s = paired_delta(chal[idx], champ[idx], 0.95, args.bootstrap, seed=i)
                    counts[decide(s["low"], s["high"], mode, margin)[0]] += 1
                    deltas.append(s["delta"])
                row = {"n": n, "scenario": scenario, "setting": name, **{k: v / args.draws for k, v in counts.items()},
                       "mean_delta": float(np.mean(deltas)),
                       "ms_per_comparison": 1000 * (time.perf_counter() - t0) / args.draws}
                out["results"].append(row)
                print(f"n={n:4d} {scenario:15s} {name:21s} promote {row['promote']:6.1%}  keep {row['keep']:6.1%}  "
                      f"inconclusive {row['inconclusive']:6.1%}  (mean delta {row['mean_delta']:+.4f}, "
                      f"{row['ms_per_comparison']:.2f} ms each)")
    out["seconds"] = time.perf_counter() - t_all
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/compare.json").write_text(json.dumps(out, indent=2) + "\n")
    head = {(r["scenario"]): r for r in out["results"] if r["n"] == args.n[0] and r["setting"] == "non_inferiority_0.02"}
    print(f"compare (n={args.n[0]}, shipped setting): equal challenger not kept in {1 - head['equal']['keep']:.1%} "
          f"of {args.draws} draws, a clearly worse one kept in {head['worse']['keep']:.1%}; "
          f"{out['seconds']:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
