"""The strategy table: every fine-tuning strategy and regulariser on the embedded default, over seeds.

Why: ``finetune.strategy`` and ``finetune.regularizer`` are choices a user makes blind unless someone measured them
side by side. Each arm starts from the selected zoo candidate with the shipped params.yaml (same data, steps, batch,
learning rate; only the strategy or regulariser differs), trains with the same functions as the finetune stage,
and is scored on the test split (accuracy) and on the source task with the original source head (forgetting =
source accuracy before − after).

Uses a pipeline run in this directory (data/prepared, models/zoo, reports/selection.json, data/demo/sources): run
`make run` first. Writes benchmarks/results/strategies.json; prints the table, best arm last.
Usage: python benchmarks/strategies.py [--seeds 0 1 2] [--arms full lp_ft ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.eval import forgetting  # noqa: E402
from graftline.config import load_params  # noqa: E402
from graftline.data.dataset import load_split  # noqa: E402
from graftline.eval.logits import accuracy  # noqa: E402
from graftline.models.candidates import Candidate, load as load_candidate  # noqa: E402
from graftline.results import SelectionReport  # noqa: E402
from graftline.train.finetune import _penalty, _probe_recipe, _recipe, init_model  # noqa: E402
from graftline.train.loop import FitData  # noqa: E402
from graftline.train.recipe import Hooks  # noqa: E402
from graftline.train.strategies import run_strategy  # noqa: E402

ARMS = {  # name -> (strategy, regularizer)
    "linear_probe": ("linear_probe", "none"), "full": ("full", "none"), "lp_ft": ("lp_ft", "none"),
    "discriminative": ("discriminative", "none"), "progressive": ("progressive", "none"),
    "full+l2_sp": ("full", "l2_sp"), "full+ewc": ("full", "ewc"),
}


def _ms(v: list[float]) -> dict:
    return {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": v}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    a = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    sel = SelectionReport.read(ROOT / "reports/selection.json")
    spec = Candidate.from_dict(sel.selected_spec.model_dump())
    _, meta = load_candidate(spec, ROOT)
    size = meta.preprocess.size
    mean, std = meta.preprocess.mean, meta.preprocess.std
    prepared = ROOT / "data/prepared"
    train = load_split(prepared, ROOT, "train", meta.in_chans, size)
    val = load_split(prepared, ROOT, "val", meta.in_chans, size)
    test = load_split(prepared, ROOT, "test", meta.in_chans, size)
    classes, data = train.classes, FitData(train.data, val.data, mean, std)
    src = forgetting.source_eval_set(meta, ROOT, size)
    rows = {}
    t_all = time.perf_counter()
    for arm in a.arms:
        strategy, reg = ARMS[arm]
        accs, forg, secs = [], [], []
        for seed in a.seeds:
            p = params.finetune.model_copy(update={"strategy": strategy, "regularizer": reg})
            source, _ = load_candidate(spec, ROOT)
            pretrained = copy.deepcopy(source)
            torch.manual_seed(seed)  # the stage's order: load, seed, then the new head
            model = init_model(pretrained, meta, len(classes), p.zero_init_head)
            penalty = _penalty(p, model, source, src, mean, std, sel.selected, seed)
            recipe = _recipe(p, p.lr, seed)
            if reg == "l2_sp":
                from dataclasses import replace

                recipe = replace(recipe, weight_decay=0.0)
            t0 = time.perf_counter()
            run_strategy(strategy, model, data, recipe, _probe_recipe(p, seed), Hooks(penalty=penalty), None,
                         layer_decay=p.layer_decay, unfreeze_every=p.unfreeze_every)
            secs.append(time.perf_counter() - t0)
            accs.append(accuracy(model, test.data, None, mean, std))
            forg.append(forgetting.measure(source, model, src, mean, std)["forgetting"])
        rows[arm] = {"strategy": strategy, "regularizer": reg, "test_acc": _ms(accs), "forgetting": _ms(forg),
                     "train_seconds": _ms(secs)}
        print(f"{arm:<15} test acc {rows[arm]['test_acc']['mean']:.3f} ± {rows[arm]['test_acc']['std']:.3f}   "
              f"forgetting {rows[arm]['forgetting']['mean']:+.3f} ± {rows[arm]['forgetting']['std']:.3f}   "
              f"{statistics.mean(secs):.1f} s/run", flush=True)
    best = max(rows, key=lambda k: rows[k]["test_acc"]["mean"])
    out = {"candidate": sel.selected, "train_images": len(train), "test_images": len(test),
           "source_eval_images": len(src["y_eval"]), "seeds": a.seeds,
           "params": params.finetune.model_dump(mode="json"), "arms": rows, "best_by_test_acc": best,
           "seconds": round(time.perf_counter() - t_all, 1)}
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/strategies.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"best test accuracy: {best} ({rows[best]['test_acc']['mean']:.3f})")


if __name__ == "__main__":
    main()
