"""The zoo stage one candidate after another vs ``zoo.workers`` at once, side by side in one run (the machine is noisy).

``graftline zoo`` trains every candidate of ``params.yaml``'s zoo section. With ``workers: 1`` it trains them in
turn in the stage's process with all of torch's threads; with ``workers: 0`` (the default) one spawned process per
torch thread, each with one thread. The two settings alternate in rounds so that load on the machine hits both
alike. Prints wall seconds per setting (median over rounds), each candidate's source eval accuracy under both (the
models differ only by thread-count rounding) and the speed-up ratio last.

Needs the demo's sources (``dvc repro demo``). Run it on an otherwise idle machine:

    python benchmarks/zoo.py [--rounds 2] [--steps N (default: params.yaml's zoo.steps)]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from graftline.config import load_params
from graftline.train.pretrain import run_zoo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "zoo.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None)
    a = ap.parse_args()
    p = load_params(ROOT / "params.yaml").zoo
    if a.steps:
        p = p.model_copy(update={"steps": a.steps})
    settings = {"serial (workers 1)": p.model_copy(update={"workers": 1}),
                "parallel (workers 0)": p.model_copy(update={"workers": 0})}
    times: dict[str, list[float]] = {k: [] for k in settings}
    acc: dict[str, dict] = {}
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name, params in (settings.items() if r % 2 == 0 else reversed(settings.items())):
                t0 = time.perf_counter()
                res = run_zoo(params, ROOT / "data/demo/sources", Path(tmp) / f"zoo-{r}", ROOT)
                times[name].append(time.perf_counter() - t0)
                acc[name] = {c.id: round(c.source_eval_accuracy, 4) for c in res.candidates}
                print(f"round {r}: {name:22s} {times[name][-1]:6.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    serial, parallel = med["serial (workers 1)"], med["parallel (workers 0)"]
    out = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "steps": p.steps,
           "candidates": len(p.candidates), "rounds": a.rounds, "load_before": load0, "load_after": os.getloadavg(),
           "seconds": times, "median_s": med, "source_eval_accuracy": acc, "speedup": serial / parallel}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    for cid in acc["serial (workers 1)"]:
        print(f"  {cid:32s} source eval acc serial {acc['serial (workers 1)'][cid]:.4f}  "
              f"parallel {acc['parallel (workers 0)'][cid]:.4f}")
    print(f"zoo of {len(p.candidates)} candidates x {p.steps} steps, {torch.get_num_threads()} torch threads: serial "
          f"{serial:.1f} s, parallel {parallel:.1f} s -> {serial / parallel:.2f}x faster in parallel")


if __name__ == "__main__":
    main()
