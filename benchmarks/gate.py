"""The negative-transfer gate's own benchmark: false alarms, detection, ties and cost, on the demo.

Each repetition re-splits the demo's real digits with another ``data.seed`` (a new train/val/test split, 3 labels
per class as shipped), then trains, with the finetune stage's own code and recipe, K = len(check.seeds) paired
seeds of:
- ``good``: transfer from ``zoo:resnet10t.digits`` (the demo's pick) against scratch: a `negative` verdict is a
  false alarm (goal <= 5 % of repetitions);
- ``harmful``: transfer from ``zoo:resnet10t.random_labels`` (a source pretrained on shuffled labels: it memorised
  noise) against the same scratch arms: its mean NTG is measured, and `negative` is a detection (goal >= 90 %);
- ``tie``: scratch against scratch with other initial weights (seed + 1000), equal in expectation by construction:
  `inconclusive` is right (goal >= 90 %), anything else is a wrong call.
Reused, and said so: the scratch arms of a repetition serve the good and the harmful comparisons (they are the same
runs the check stage would train); every transfer arm and every tie arm is its own training. Cost: the wall time of
the K-seed check (K pairs + verdict) against a 1-seed check (1 pair + verdict), from the measured training times.

Usage: python benchmarks/gate.py [--reps 20] [--workers 2]. Results are written after every repetition to
benchmarks/results/gate.json (so a long run can be stopped and still reports what it measured); prints the cost
ratio last. Needs the zoo and the demo (`dvc repro zoo`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/graftline-gate")
SOURCES = {"good": "zoo:resnet10t.digits", "harmful": "zoo:resnet10t.random_labels"}


def _params():
    import yaml

    from graftline.config import Params

    return Params.model_validate(yaml.safe_load((ROOT / "params.yaml").read_text()))


def split(rep: int, p=None) -> Path:
    """The demo re-split with data.seed = rep (facts are cached by content: no image is decoded twice)."""
    from graftline.data.prepare import run_prepare

    out = WORK / f"rep{rep}" / "prepared"
    if not (out / "manifest.csv").is_file():
        p = p or _params()
        run_prepare(p.data.model_copy(update={"seed": rep}), ROOT, out, p.demo, progress=False)
    return out


def selection(source: str) -> Path:
    from graftline.models.candidates import resolve
    from graftline.results import SelectionReport

    path = WORK / f"selection-{source.split(':')[1]}.json"
    (cand,) = resolve([source], ROOT / "models" / "zoo", ROOT)
    SelectionReport(estimator="logme", scored_on={}, data_hash="", ranking=[], selected=source,
                    selected_spec=cand.to_dict(), why="benchmark").write(path)
    return path


def train(task: tuple) -> dict:
    """One arm: (repetition, kind, seed, params) -> test correctness and seconds."""
    import torch

    from graftline.data.dataset import load_split
    from graftline.eval.logits import predict_logits
    from graftline.models import weights
    from graftline.train.finetune import run_baseline, run_finetune

    torch.set_num_threads(1)
    rep, kind, seed, p = task  # params read once at the start: editing params.yaml meanwhile changes nothing
    ft = p.finetune.model_copy(update={"resume": False})
    prepared = split(rep, p)
    base = WORK / f"rep{rep}" / kind
    source = SOURCES.get(kind, SOURCES["good"])
    t0 = time.perf_counter()
    if kind in SOURCES:
        run_finetune(ft, seed, prepared, ROOT, base / "models", base / "metrics", selection(source))
    else:  # scratch (paired seed) or tie (the same recipe, other initial weights and data order)
        run_baseline(ft, p.check.scratch_lr, seed + (1000 if kind == "tie" else 0), prepared, ROOT, base / "models",
                     base / "metrics", selection(source))
    seconds = time.perf_counter() - t0
    seed_dir = next((base / "models").glob(f"seed-{seed + (1000 if kind == 'tie' else 0)}"))
    model, meta = weights.load(seed_dir / "model")
    test = load_split(prepared, ROOT, "test", meta["in_chans"], meta["input_size"][1:])
    pred = predict_logits(model, test.data, meta["mean"], meta["std"]).argmax(1).numpy()
    shutil.rmtree(seed_dir)
    return {"rep": rep, "kind": kind, "seed": seed, "ok": (pred == test.y.numpy()).tolist(),
            "y": test.y.numpy().tolist(), "classes": test.classes, "seconds": seconds}


def verdicts(arms: dict, seeds: list[int], p) -> dict:
    from graftline.check.verdict import decide

    def stack(kind):
        return np.array([arms[(kind, s)]["ok"] for s in seeds], dtype=bool)

    y, classes = np.array(arms[("scratch", seeds[0])]["y"]), arms[("scratch", seeds[0])]["classes"]
    out = {}
    for name, (a, b) in {"good": ("good", "scratch"), "harmful": ("harmful", "scratch"),
                         "tie": ("tie", "scratch")}.items():
        v = decide(stack(a), stack(b), y, classes, seeds, p.check.max_ntg, p.check.confidence, p.check.bootstrap)
        out[name] = {"verdict": v.verdict, "ntg": v.ntg, "ntg_low": v.ntg_low, "ntg_high": v.ntg_high}
    t0 = time.perf_counter()
    decide(stack("good"), stack("scratch"), y, classes, seeds, p.check.max_ntg, p.check.confidence, p.check.bootstrap)
    verdict_s = time.perf_counter() - t0
    pair = [arms[("good", s)]["seconds"] + arms[("scratch", s)]["seconds"] for s in seeds]
    out["cost"] = {"k_seed_s": sum(pair) + verdict_s, "one_seed_s": pair[0] + verdict_s}
    return out


def summarise(reps: dict) -> dict:
    n = len(reps)
    share = lambda kind, v: sum(r[kind]["verdict"] == v for r in reps.values()) / n  # noqa: E731
    ratio = statistics.median(r["cost"]["k_seed_s"] / r["cost"]["one_seed_s"] for r in reps.values())
    return {"repetitions": n, "false_alarm_rate": share("good", "negative"), "good_positive_rate":
            share("good", "positive"), "detection_rate": share("harmful", "negative"),
            "harmful_mean_ntg": float(np.mean([r["harmful"]["ntg"] for r in reps.values()])),
            "good_mean_ntg": float(np.mean([r["good"]["ntg"] for r in reps.values()])),
            "tie_inconclusive_rate": share("tie", "inconclusive"), "tie_negative_rate": share("tie", "negative"),
            "cost_ratio_k_vs_1": ratio}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    p = _params()
    seeds = p.check.seeds
    WORK.mkdir(parents=True, exist_ok=True)
    out_path = ROOT / "benchmarks" / "results" / "gate.json"
    reps: dict = {}
    t_start = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as pool:
        for rep in range(a.reps):
            split(rep, p)
            tasks = [(rep, kind, s, p) for s in seeds for kind in ("good", "scratch", "harmful", "tie")]
            arms = {(r["kind"], r["seed"]): r for r in pool.map(train, tasks)}
            np.savez_compressed(WORK / f"rep{rep}" / "correct.npz", y=np.array(arms[("scratch", seeds[0])]["y"]),
                                **{f"{k}_{s}": np.array(v["ok"]) for (k, s), v in arms.items()})
            reps[rep] = verdicts(arms, seeds, p)
            s = summarise(reps)
            out_path.write_text(json.dumps({"summary": s, "seeds": seeds, "per_repetition": reps,
                                            "wall_seconds": time.perf_counter() - t_start,
                                            "load_average": os.getloadavg()}, indent=2) + "\n")
            r = reps[rep]
            print(f"rep {rep:2d}: good {r['good']['verdict']:<12} ({r['good']['ntg']:+.3f}) harmful "
                  f"{r['harmful']['verdict']:<12} ({r['harmful']['ntg']:+.3f}) tie {r['tie']['verdict']:<12} "
                  f"({r['tie']['ntg']:+.3f})", flush=True)
    s = summarise(reps)
    print(f"false alarms (good source called negative): {100 * s['false_alarm_rate']:.0f} % of {s['repetitions']} "
          f"(goal <= 5 %); good called positive: {100 * s['good_positive_rate']:.0f} %")
    print(f"detection (random-label source, mean NTG {s['harmful_mean_ntg']:+.3f}): "
          f"{100 * s['detection_rate']:.0f} % negative (goal >= 90 %)")
    print(f"ties (scratch vs scratch): {100 * s['tie_inconclusive_rate']:.0f} % inconclusive (goal >= 90 %), "
          f"{100 * s['tie_negative_rate']:.0f} % negative")
    print(f"cost of the {len(seeds)}-seed check vs a 1-seed check: {s['cost_ratio_k_vs_1']:.2f}x")


if __name__ == "__main__":
    main()
