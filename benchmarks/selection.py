"""How good and how cheap is source selection? Every estimator against the brute-force truth, side by side.

The truth: fine-tune every zoo candidate with the finetune stage's own recipe (params.yaml `finetune`), 3 seeds each,
and take the mean test accuracy (single-seed accuracies on 3 labels per class move by 2-3 points). Then, per
estimator and per scoring variant (the training images only / train + val; 1 or several augmented views):

- Kendall tau and weighted tau (scipy's hyperbolic weighting, as in the LogME paper) of the scores vs the truth,
- top-1 regret: best mean accuracy - mean accuracy of the candidate the estimator picks (points),
- where the random-label control lands (rank from the top),
- cost ratio: brute force (one fine-tuning run per candidate, the cheapest brute force there is) / scoring (model
  load + feature extraction + every estimator, no cache).

Run it in a project where `dvc repro select` has run (it needs models/zoo and data/prepared):
    python benchmarks/selection.py [--seeds 3]
Writes benchmarks/results/selection.json and selection.png; prints the cost ratio last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from graftline.config import load_params
from graftline.data.manifest import read_manifest
from graftline.models.candidates import Candidate, load, resolve
from graftline.select.estimators import ENSEMBLE, REGISTRY
from graftline.select.features import Target, candidate_features
from graftline.select.rank import add_ensemble, score_features
from graftline.data.dataset import load_split
from graftline.eval.logits import accuracy
from graftline.train.finetune import _probe_recipe, _recipe, init_model
from graftline.train.loop import FitData
from graftline.train.recipe import Hooks
from graftline.train.strategies import run_strategy

ESTIMATORS = (*REGISTRY, ENSEMBLE)  # every registered estimator, then the ensemble of its members
VARIANTS = {"train": (("train",), 1), "train+val": (("train", "val"), 1), "train+val x8 views": (("train", "val"), 8)}


def truth(cands, root: Path, params, seeds: int) -> dict:
    """Mean test accuracy of each candidate fine-tuned with the finetune stage's recipe, over seeds."""
    p = params.finetune
    if p.regularizer != "none":
        sys.exit("the benchmark fine-tunes with finetune.strategy and no regularizer; set finetune.regularizer: none")
    out = {}
    for c in cands:
        _, meta = load(c, root)
        size = meta.preprocess.size
        train = load_split(root / "data/prepared", root, "train", meta.in_chans, size)
        val = load_split(root / "data/prepared", root, "val", meta.in_chans, size)
        test = load_split(root / "data/prepared", root, "test", meta.in_chans, size)
        classes, data = train.classes, FitData(train.data, val.data, meta.preprocess.mean, meta.preprocess.std)
        accs, secs = [], []
        for seed in range(seeds):
            t0 = time.perf_counter()
            model, _ = load(c, root)
            torch.manual_seed(seed)
            model = init_model(model, meta, len(classes), p.zero_init_head)
            run_strategy(p.strategy, model, data, _recipe(p, p.lr, seed), _probe_recipe(p, seed), Hooks(), None,
                         layer_decay=p.layer_decay, unfreeze_every=p.unfreeze_every)
            secs.append(time.perf_counter() - t0)
            accs.append(accuracy(model, test.data, None, meta.preprocess.mean, meta.preprocess.std))
        out[c.name] = {"accs": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs)),
                       "seconds_per_run": float(np.mean(secs))}
        print(f"  truth {c.name:<36} {np.mean(accs):.4f} ± {np.std(accs):.4f}  ({np.mean(secs):.1f} s/run)", flush=True)
    return out


def scores(cands, root: Path, splits, views: int, batch_size: int = 256) -> tuple[list[dict], float]:
    rows, classes, meta = read_manifest(root / "data/prepared")
    part = [r for r in rows if r.split in splits]
    target = Target(str((root / meta["root"]).resolve()), tuple(r.path for r in part), tuple(r.sha256 for r in part),
                    tuple(classes.index(r.label) for r in part), meta.get("color_mode", "auto"), meta.get("max_pixels"))
    labels = np.tile(np.asarray(target.labels), views)
    entries, t0 = [], time.perf_counter()
    for c in cands:
        model, m = load(c, root)
        feats, logits, _ = candidate_features(model, m, target, views, batch_size, cache_dir=None)
        entries.append({"candidate": c.name, **score_features(feats, logits, labels)})
    add_ensemble(entries)
    return entries, time.perf_counter() - t0


def compare(entries: list[dict], gt: dict, control: str | None) -> dict:
    from scipy.stats import kendalltau, weightedtau

    truth_acc = np.array([gt[e["candidate"]]["mean"] for e in entries])
    out = {}
    for name in ESTIMATORS:
        s = np.array([e[name] for e in entries], dtype=float)
        pick = int(np.argmax(s))
        order = [entries[i]["candidate"] for i in np.argsort(-s)]
        out[name] = {
            "kendall_tau": float(kendalltau(s, truth_acc).statistic),
            "weighted_tau": float(weightedtau(s, truth_acc).statistic),
            "selected": entries[pick]["candidate"],
            "regret_points": float(100 * (truth_acc.max() - truth_acc[pick])),
            "control_rank": (order.index(control) + 1) if control in order else None,
            "scores": {e["candidate"]: e[name] for e in entries},
        }
    return out


def plot(path: Path, entries: list[dict], gt: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = -(-len(ESTIMATORS) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.5 * rows), dpi=100, squeeze=False)
    for ax in axes.ravel()[len(ESTIMATORS):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), ESTIMATORS):
        for e in entries:
            acc = gt[e["candidate"]]
            ax.errorbar(e[name], acc["mean"], yerr=acc["std"], fmt="o", capsize=3)
            ax.annotate(e["candidate"].removeprefix("zoo:"), (e[name], acc["mean"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(name)
        ax.set_ylabel("fine-tuned test accuracy (mean of seeds)")
    fig.suptitle("Transferability score vs fine-tuned accuracy (embedded default)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--project", type=Path, default=Path("."))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    root = args.project.resolve()
    params = load_params(root / "params.yaml")
    if not (root / "models/zoo").is_dir() or not (root / "data/prepared").is_dir():
        sys.exit("needs models/zoo and data/prepared: run `dvc repro select` first")
    cands = resolve(["zoo:*"], root / "models/zoo", root)
    control = next((c.name for c in cands if "random_labels" in c.name), None)
    print(f"selection benchmark: {len(cands)} candidates, {args.seeds} seeds, recipe = params.yaml finetune", flush=True)
    t0 = time.perf_counter()
    gt = truth(cands, root, params, args.seeds)
    brute_seconds = sum(v["seconds_per_run"] for v in gt.values())  # one run per candidate
    truth_seconds = time.perf_counter() - t0
    accs = [v["mean"] for v in gt.values()]
    results = {"candidates": [c.name for c in cands], "seeds": args.seeds, "truth": gt,
               "truth_spread_points": 100 * (max(accs) - min(accs)), "brute_force_seconds": brute_seconds,
               "truth_seconds_all_seeds": truth_seconds, "variants": {}}
    plotted: dict[str, list[dict]] = {}
    scores(cands, root, ("train",), 1)  # warm-up: one-off imports and allocator growth, paid by no variant
    for vname, (splits, views) in VARIANTS.items():
        entries, secs = scores(cands, root, splits, views)
        cmp = compare(entries, gt, control)
        results["variants"][vname] = {"scoring_seconds": secs, "cost_ratio": brute_seconds / secs, "estimators": cmp}
        print(f"\n[{vname}] scoring {secs:.2f} s for {len(cands)} candidates -> cost ratio "
              f"{brute_seconds / secs:,.0f}x", flush=True)
        print(f"  {'estimator':<10} {'tau':>6} {'w-tau':>6} {'regret':>7}  control  selected")
        for name, r in cmp.items():
            print(f"  {name:<10} {r['kendall_tau']:>6.2f} {r['weighted_tau']:>6.2f} {r['regret_points']:>6.1f}p  "
                  f"{str(r['control_rank']) + '/' + str(len(cands)):>7}  {r['selected']}")
        plotted[vname] = entries
    cfg = params.select
    configured = "train+val" if cfg.score_on == "train+val" else "train"
    if cfg.views > 1 and configured == "train+val":
        configured = "train+val x8 views"
    default = results["variants"][configured]
    results["configured"] = {"estimator": cfg.estimator, "score_on": cfg.score_on, "views": cfg.views,
                             "variant": configured}
    args.out.mkdir(parents=True, exist_ok=True)
    plot(args.out / "selection.png", plotted[configured], gt)
    (args.out / "selection.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\ntruth spread {results['truth_spread_points']:.1f} points; brute force {brute_seconds:.0f} s per pass; "
          f"wrote {args.out / 'selection.json'} and selection.png")
    best = default["estimators"][cfg.estimator]
    print(f"configured ({cfg.estimator}, {configured}): weighted tau {best['weighted_tau']:.2f}, "
          f"regret {best['regret_points']:.1f} points, control {best['control_rank']}/{len(cands)}")
    print(f"cost ratio (brute force / {cfg.estimator} scoring with feature extraction, {configured}): "
          f"{default['cost_ratio']:,.0f}x")


if __name__ == "__main__":
    main()
