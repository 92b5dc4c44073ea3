"""Transfer vs scratch on the embedded default, each arm at each learning rate, over seeds.

Why: the check stage compares the fine-tuned model with a from-scratch baseline given the same data, steps and
recipe. That comparison is only honest if the baseline gets its own sensible learning rate, found with the same
effort as the transfer arm's: this benchmark sweeps both arms over the same grid (same trials, same seeds), picks
each arm's rate on the VALIDATION split (what a user could do; the test split stays for the verdict), and reports
the test accuracy at every rate, so that one can see whether the shipped fixed rates (finetune.lr, check.scratch_lr)
are each arm's best and what the margin is at the validation-chosen rates.

Uses the outputs of a pipeline run in this directory (data/prepared, models/zoo, reports/selection.json): run
`make run` first. Usage: python benchmarks/transfer_vs_scratch.py [--workers 2]. Writes benchmarks/results/transfer_vs_scratch.json; prints the headline margin last.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.config import load_params  # noqa: E402
from graftline.data.dataset import load_split  # noqa: E402
from graftline.eval.logits import accuracy  # noqa: E402
from graftline.models.candidates import Candidate, load as load_candidate  # noqa: E402
from graftline.results import SelectionReport  # noqa: E402
from graftline.train.finetune import _recipe, init_model  # noqa: E402
from graftline.train.loop import FitData, fit  # noqa: E402

LRS = [0.0003, 0.001, 0.003, 0.01]
SEEDS = [0, 1, 2]


def _setup():
    params = load_params(ROOT / "params.yaml")
    sel = SelectionReport.read(ROOT / "reports/selection.json")
    spec = Candidate.from_dict(sel.selected_spec.model_dump())
    _, meta = load_candidate(spec, ROOT)
    size = meta.preprocess.size
    prepared = ROOT / "data/prepared"
    splits = {name: load_split(prepared, ROOT, name, meta.in_chans, size) for name in ("train", "val", "test")}
    return params, sel, spec, meta, splits


def _trial(task: tuple) -> tuple:
    """One (arm, lr, seed) training, exactly as the stages train it; returns (val acc, test acc)."""
    arm, lr, seed = task
    torch.set_num_threads(1)
    params, _, spec, meta, splits = _setup()
    pretrained = load_candidate(spec, ROOT)[0] if arm == "transfer" else None
    torch.manual_seed(seed)  # the same order as the stages: load, seed, then the new head
    model = init_model(pretrained, meta, len(splits["train"].classes), params.finetune.zero_init_head)
    fit(model, FitData(splits["train"].data, None, meta.preprocess.mean, meta.preprocess.std), _recipe(params.finetune, lr, seed))
    return (accuracy(model, splits["val"].data, None, meta.preprocess.mean, meta.preprocess.std),
            accuracy(model, splits["test"].data, None, meta.preprocess.mean, meta.preprocess.std))


def main() -> None:
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 2
    params, sel, _, _, splits = _setup()
    train, val, test = splits["train"], splits["val"], splits["test"]
    results = {}
    t0 = time.perf_counter()
    tasks = [(arm, lr, seed) for arm in ("transfer", "scratch") for lr in LRS for seed in SEEDS]
    with ProcessPoolExecutor(workers) as pool:  # one thread each: trials are independent, the result is the same
        done = dict(zip(tasks, pool.map(_trial, tasks)))
    for arm in ("transfer", "scratch"):
        for lr in LRS:
            vals = [done[(arm, lr, s)][0] for s in SEEDS]
            accs = [done[(arm, lr, s)][1] for s in SEEDS]
            results[f"{arm}@{lr:g}"] = {"arm": arm, "lr": lr, "mean": statistics.mean(accs),
                                        "std": statistics.stdev(accs), "accs": accs, "val_mean": statistics.mean(vals)}
            print(f"{arm:<9} lr {lr:<7g} val acc {statistics.mean(vals):.3f}  test acc {statistics.mean(accs):.3f} "
                  f"± {statistics.stdev(accs):.3f} {[round(a, 3) for a in accs]}", flush=True)
    best = {arm: max((r for r in results.values() if r["arm"] == arm), key=lambda r: r["mean"])
            for arm in ("transfer", "scratch")}
    by_val = {arm: max((r for r in results.values() if r["arm"] == arm), key=lambda r: (r["val_mean"], -r["lr"]))
              for arm in ("transfer", "scratch")}
    out = {"candidate": sel.selected, "train_images": len(train), "val_images": len(val),
           "test_images": len(test), "steps": params.finetune.steps, "seeds": SEEDS, "grid": results,
           "trials_per_arm": len(LRS) * len(SEEDS),
           "best": {k: {"lr": v["lr"], "mean": v["mean"]} for k, v in best.items()},
           "chosen_on_val": {k: {"lr": v["lr"], "val_mean": v["val_mean"], "test_mean": v["mean"]}
                             for k, v in by_val.items()},
           "shipped": {"transfer": params.finetune.lr, "scratch": params.check.scratch_lr},
           "margin_points_at_best_lrs": 100 * (best["transfer"]["mean"] - best["scratch"]["mean"]),
           "margin_points_at_val_chosen_lrs": 100 * (by_val["transfer"]["mean"] - by_val["scratch"]["mean"]),
           "seconds": round(time.perf_counter() - t0, 1)}
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/transfer_vs_scratch.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"best transfer lr {best['transfer']['lr']:g} ({best['transfer']['mean']:.3f}), best scratch lr "
          f"{best['scratch']['lr']:g} ({best['scratch']['mean']:.3f})")
    print(f"chosen on validation (equal effort, {out['trials_per_arm']} trials per arm): transfer lr "
          f"{by_val['transfer']['lr']:g}, scratch lr {by_val['scratch']['lr']:g}; shipped "
          f"{params.finetune.lr:g} / {params.check.scratch_lr:g}")
    print(f"transfer - scratch at the validation-chosen lrs: {out['margin_points_at_val_chosen_lrs']:+.1f} points")
    print(f"transfer - scratch at each arm's best lr: {out['margin_points_at_best_lrs']:+.1f} points")


if __name__ == "__main__":
    main()
