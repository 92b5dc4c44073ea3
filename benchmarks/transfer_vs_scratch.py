"""Transfer vs scratch on the embedded default, each arm at each learning rate, over seeds.

Why: the check stage compares the fine-tuned model with a from-scratch baseline given the same data, steps and
recipe. That comparison is only honest if the baseline gets its own sensible learning rate; this benchmark sweeps
both arms over the same grid, side by side in one run, and reports the margin at each arm's best rate.

Uses the outputs of a pipeline run in this directory (data/prepared, models/zoo, reports/selection.json): run
`make run` first. Writes benchmarks/results/transfer_vs_scratch.json; prints the headline margin last.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.config import load_params  # noqa: E402
from graftline.models import weights  # noqa: E402
from graftline.select.rank import candidate_stem  # noqa: E402
from graftline.train.finetune import _recipe, init_model, load_split  # noqa: E402
from graftline.train.loop import accuracy, fit  # noqa: E402

LRS = [0.0003, 0.001, 0.003, 0.01]
SEEDS = [0, 1, 2]


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    sel = json.loads((ROOT / "reports/selection.json").read_text())
    stem = candidate_stem(sel["selected"], ROOT / "models/zoo")
    meta = weights.read_meta(stem)
    size = meta["input_size"][1:]
    prepared = ROOT / "data/prepared"
    x, y, classes, _ = load_split(prepared, ROOT, "train", meta["in_chans"], size)
    xt, yt, _, _ = load_split(prepared, ROOT, "test", meta["in_chans"], size)
    results = {}
    t0 = time.perf_counter()
    for arm in ("transfer", "scratch"):
        for lr in LRS:
            accs = []
            for seed in SEEDS:
                p = params.finetune.model_copy(update={"seed": seed})
                pretrained = weights.load(stem)[0] if arm == "transfer" else None
                torch.manual_seed(seed)  # the same order as the stages: load, seed, then the new head
                model = init_model(pretrained, meta, len(classes), p.zero_init_head)
                fit(model, x, y, _recipe(p, lr), meta["mean"], meta["std"])
                accs.append(accuracy(model, xt, yt, meta["mean"], meta["std"]))
            results[f"{arm}@{lr:g}"] = {"arm": arm, "lr": lr, "mean": statistics.mean(accs),
                                        "std": statistics.stdev(accs), "accs": accs}
            print(f"{arm:<9} lr {lr:<7g} test acc {statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f} "
                  f"{[round(a, 3) for a in accs]}", flush=True)
    best = {arm: max((r for r in results.values() if r["arm"] == arm), key=lambda r: r["mean"])
            for arm in ("transfer", "scratch")}
    out = {"candidate": sel["selected"], "train_images": len(y), "test_images": len(yt),
           "steps": params.finetune.steps, "seeds": SEEDS, "grid": results,
           "best": {k: {"lr": v["lr"], "mean": v["mean"]} for k, v in best.items()},
           "margin_points_at_best_lrs": 100 * (best["transfer"]["mean"] - best["scratch"]["mean"]),
           "seconds": round(time.perf_counter() - t0, 1)}
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/transfer_vs_scratch.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"best transfer lr {best['transfer']['lr']:g} ({best['transfer']['mean']:.3f}), best scratch lr "
          f"{best['scratch']['lr']:g} ({best['scratch']['mean']:.3f})")
    print(f"transfer - scratch at each arm's best lr: {out['margin_points_at_best_lrs']:+.1f} points")


if __name__ == "__main__":
    main()
