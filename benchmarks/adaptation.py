"""Unsupervised domain adaptation on the demo: each method against source-only, paired seeds, and the label-free
criterion's pick.

Source: the rendered digits (``data/demo/sources/digits.npz`` via ``graftline.models.zoo.load_source``), labelled.
Target: the real digits; their train+val images (80, labels dropped by ``graftline.adapt.data.target_images``) are
the unlabelled target, their test split (898) is read with labels only to score. Start: ``zoo:resnet10t.digits``.
Each (method, seed) is its own run with the same steps, batches and schedule (``graftline.adapt.loop``); every
``--eval-every`` steps it records the target test accuracy, the soft neighbourhood density (SND) on the 80
unlabelled target images, deep embedded validation (DEV: 1,000 labelled source eval images weighted towards
the 80 target images) and the source eval accuracy. Label-free choice, per seed: DEV's (and SND's) pick among the methods'
final models (how often it is the method with the best test accuracy, and the regret = best − picked accuracy)
and among every (method, step) checkpoint; the naive alternative (best source eval accuracy) beside it.

Usage: nice -n 10 python benchmarks/adaptation.py [--project /path/with/built/demo] [--seeds 0 1 2]
[--workers 2] [--tune]. --tune first picks each method's trade-off from GRID by DEV on --tune-seed. Needs the demo, the zoo and data/prepared (`dvc repro select`). Writes
benchmarks/results/adaptation.json; prints the best mean gain last. One thread per worker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from graftline.adapt import METHODS
from graftline.config import AdaptParams

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "adaptation.json"
# Each method's recipe: the shipped adapt defaults (params.yaml: tllib's lr 0.01, the body at 0.1x, 900 steps).
_DEFAULTS = AdaptParams()
_BASE = {"lr": _DEFAULTS.lr, "backbone_lr": _DEFAULTS.backbone_lr}
CONFIGS = {
    "source_only": {**_BASE, "trade_off": 0.0},
    **{m: {**_BASE, "trade_off": c.trade_off} for m, c in METHODS.items() if m != "source_only"},  # DEV's (--tune)
}
# --tune: each method's trade-off is chosen by DEV (label-free) among these, on a seed outside the evaluated ones.
GRID = {"dann": [0.1, 0.3, 1.0], "cdan": [0.1, 0.3, 1.0], "mcc": [0.3, 1.0, 3.0], "coral": [10.0, 100.0, 1000.0],
        "im": [0.3, 1.0, 3.0]}
_CACHE: dict = {}


def _inputs(project: Path):
    if "x" not in _CACHE:
        from graftline.adapt.data import target_images
        from graftline.data.dataset import load_split
        from graftline.models.zoo import load_source

        size = (32, 32)
        src = load_source(project / "data/demo/sources/digits.npz", size)
        test = load_split(project / "data/prepared", project, "test", 1, size)
        _CACHE.update(x=src, t=target_images(project / "data/prepared", project, ("train", "val"), 1, size),
                      test=(test.tensors(), test.y))
    return _CACHE["x"], _CACHE["t"], _CACHE["test"]


def run_one(project: str, method: str, seed: int, steps: int, eval_every: int, overrides: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from graftline.adapt.criteria import dev, snd
    from graftline.adapt.loop import AdaptRecipe, adapt
    from graftline.eval.logits import accuracy
    from graftline.models import weights

    src, tx, (xte, yte) = _inputs(Path(project))
    model, meta = weights.load(Path(project) / "models/zoo/resnet10t.digits")
    mean, std = meta.preprocess.mean, meta.preprocess.std
    points, spent = [], [0.0]

    def score(step, m):
        t = time.perf_counter()
        points.append({"step": step, "target_acc": accuracy(m, xte, yte, mean, std), "snd": snd(m, tx, mean, std),
                       "dev": dev(m, src["x_eval"][:1000], src["y_eval"][:1000], tx, mean, std),
                       "source_acc": accuracy(m, src["x_eval"], src["y_eval"], mean, std)})
        spent[0] += time.perf_counter() - t

    score(0, model)
    spent[0] = 0.0
    recipe = AdaptRecipe(method=method, steps=steps, seed=seed, eval_every=eval_every, **overrides)
    t0 = time.perf_counter()
    adapt(model, src["x"], src["y"], tx, recipe, mean, std, on_eval=score)
    train_s = time.perf_counter() - t0 - spent[0]
    return {"method": method, "seed": seed, "recipe": vars(recipe), "train_s": round(train_s, 1), "points": points,
            "target_acc": points[-1]["target_acc"]}


def _ms(v: list[float]) -> dict:
    return {"mean": statistics.mean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0}


def label_free(runs: list[dict], seeds: list[int], key: str) -> dict:
    """Per seed, the criterion's pick among final models and among all checkpoints; agreement and regret."""
    from graftline.adapt.criteria import pick

    final_hits, final_regret, ckpt_regret, picks = 0, [], [], []
    for s in seeds:
        mine = [r for r in runs if r["seed"] == s]
        finals = [{"method": r["method"], **r["points"][-1]} for r in mine]
        best = max(finals, key=lambda c: c["target_acc"])
        chosen = pick(finals, key)
        final_hits += chosen["method"] == best["method"]
        final_regret.append(best["target_acc"] - chosen["target_acc"])
        ckpts = [{"method": r["method"], **p} for r in mine for p in r["points"][1:]]
        cbest = max(ckpts, key=lambda c: c["target_acc"])
        cchosen = pick(ckpts, key)
        ckpt_regret.append(cbest["target_acc"] - cchosen["target_acc"])
        picks.append({"seed": s, "final_pick": chosen["method"], "final_best": best["method"],
                      "checkpoint_pick": [cchosen["method"], cchosen["step"]], "checkpoint_best":
                      [cbest["method"], cbest["step"]]})
    return {"criterion": key, "picks_best_method": f"{final_hits}/{len(seeds)}",
            "regret_final": _ms(final_regret), "regret_checkpoint": _ms(ckpt_regret), "picks": picks}


def summarise(runs: list[dict], seeds: list[int]) -> dict:
    by = {m: {r["seed"]: r for r in runs if r["method"] == m} for m in dict.fromkeys(r["method"] for r in runs)}
    base = by["source_only"]
    table = {}
    for m, rs in by.items():
        gains = [rs[s]["target_acc"] - base[s]["target_acc"] for s in seeds]
        table[m] = {"target_acc": _ms([rs[s]["target_acc"] for s in seeds]), "gain": _ms(gains),
                    "train_s": _ms([rs[s]["train_s"] for s in seeds]), "recipe": rs[seeds[0]]["recipe"]}
    zero_shot = runs[0]["points"][0]["target_acc"]
    return {"zero_shot_acc": zero_shot, "methods": table,
            "label_free": [label_free(runs, seeds, k) for k in ("dev", "snd", "source_acc")]}


def tune(a, cfg: dict) -> dict:
    """Each method's trade-off from GRID, picked by the lowest final DEV on ``a.tune_seed`` (target test accuracy
    recorded beside it only to report the regret of that label-free choice); ``cfg`` is updated in place."""
    jobs = [(a.project, m, a.tune_seed, a.steps, a.steps, {**cfg[m], "trade_off": t})
            for m in a.methods if m in GRID for t in GRID[m]]
    with ProcessPoolExecutor(a.workers) as ex:
        runs = list(ex.map(run_one, *zip(*jobs)))
    out = {"seed": a.tune_seed, "criterion": "dev", "methods": {}}
    for m in dict.fromkeys(r["method"] for r in runs):
        mine = [r for r in runs if r["method"] == m]
        chosen = min(mine, key=lambda r: r["points"][-1]["dev"])
        best = max(mine, key=lambda r: r["target_acc"])
        cfg[m]["trade_off"] = chosen["recipe"]["trade_off"]
        out["methods"][m] = {"grid": [{"trade_off": r["recipe"]["trade_off"], "dev": r["points"][-1]["dev"],
                                       "target_acc": r["target_acc"], "train_s": r["train_s"]} for r in mine],
                             "chosen_by_dev": chosen["recipe"]["trade_off"],
                             "best_by_target_acc": best["recipe"]["trade_off"],
                             "regret": best["target_acc"] - chosen["target_acc"]}
        print(f"tune {m:6s} (seed {a.tune_seed}): DEV picks trade-off {chosen['recipe']['trade_off']:g} "
              f"(target acc {chosen['target_acc']:.3f}); the labels would pick {best['recipe']['trade_off']:g} "
              f"({best['target_acc']:.3f})", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", default=str(ROOT))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=_DEFAULTS.steps)
    ap.add_argument("--eval-every", type=int, default=_DEFAULTS.steps // 3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="method.key=value overrides, e.g. coral.trade_off=100 or *.lr=0.003")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--tune", action="store_true", help="first choose each method's trade-off from GRID by DEV "
                                                         "(no target label) on --tune-seed")
    ap.add_argument("--tune-seed", type=int, default=100)
    a = ap.parse_args()
    cfg = {m: dict(CONFIGS.get(m, {})) for m in a.methods}
    for kv in a.set:
        k, v = kv.split("=", 1)
        m, key = k.split(".", 1)
        for name in (a.methods if m == "*" else [m]):
            cfg[name][key] = v == "true" if key == "augment" else float(v)
    load0 = os.getloadavg()
    t0 = time.time()
    tuning = tune(a, cfg) if a.tune else None
    jobs = [(a.project, m, s, a.steps, a.eval_every, cfg[m]) for s in a.seeds for m in a.methods]
    with ProcessPoolExecutor(a.workers) as ex:
        runs = list(ex.map(run_one, *zip(*jobs)))
    result = {"uptime_load_before": load0, "uptime_load_after": os.getloadavg(), "wall_s": round(time.time() - t0),
              "workers": a.workers, "seeds": a.seeds, "steps": a.steps, "tuning": tuning, **summarise(runs, a.seeds), "runs": runs}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(f"zero-shot {result['zero_shot_acc']:.3f}; load {load0[0]:.2f} -> {result['uptime_load_after'][0]:.2f}")
    for m, row in result["methods"].items():
        print(f"{m:12s} acc {row['target_acc']['mean']:.3f} ± {row['target_acc']['sd']:.3f}  gain "
              f"{row['gain']['mean']:+.3f} ± {row['gain']['sd']:.3f}  train {row['train_s']['mean']:.0f} s/run")
    for lf in result["label_free"]:
        print(f"label-free {lf['criterion']}: picks the best method {lf['picks_best_method']}, regret "
              f"{lf['regret_final']['mean']:.3f} (final), {lf['regret_checkpoint']['mean']:.3f} (any checkpoint)")
    best = max((m for m in result["methods"] if m != "source_only"), key=lambda m: result["methods"][m]["gain"]["mean"])
    g = result["methods"][best]["gain"]
    print(f"best gain over source-only: {best} {g['mean'] * 100:+.1f} ± {g['sd'] * 100:.1f} points "
          f"(mean ± sd over {len(a.seeds)} seeds)")


if __name__ == "__main__":
    main()
