"""Source selection on real models: ImageNet EfficientNet-Lite, the demo zoo and a control, on Fashion-MNIST photos.

The case of benchmarks/selection.py on the project examples/fashion/run.py makes (10 labels per class, 1,000
official test images): the truth is every candidate fine-tuned with that project's finetune recipe at a small
budget (``--steps``, default 60), ``--seeds`` (3) each, mean test accuracy. Per estimator (LogME, SFDA, the
ensemble, and the others select computes) on the scoring the pipeline uses (train + val):

- weighted Kendall tau (scipy's hyperbolic weighting) of scores vs truth, with a bootstrap interval: test images
  and seeds resampled together (the same draw for every candidate), the truth re-averaged, tau recomputed;
- Kendall tau; top-1 regret (best mean accuracy - accuracy of the pick, points, with the same bootstrap);
- the cost ratio: brute force (one fine-tuning run per candidate at this budget) / scoring every candidate (model
  load + feature extraction + every estimator, no cache).

    python examples/fashion/run.py --labels 10          # makes build/fashion/project-10 (or point --project at one)
    python benchmarks/selection_real.py [--project build/fashion/project-10] [--steps 60] [--seeds 3]
Writes benchmarks/results/selection_real.json; prints the cost ratio last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from selection import ESTIMATORS, scores  # noqa: E402  (the demo case's scoring, shared)

from graftline.config import load_params  # noqa: E402
from graftline.data.dataset import load_split  # noqa: E402
from graftline.eval.logits import predict_logits  # noqa: E402
from graftline.models.candidates import Candidate, load, resolve  # noqa: E402
from graftline.train.finetune import _probe_recipe, _recipe, init_model  # noqa: E402
from graftline.train.loop import FitData  # noqa: E402
from graftline.train.recipe import Hooks  # noqa: E402
from graftline.train.strategies import run_strategy  # noqa: E402


def short(name: str) -> str:
    return Path(name.removeprefix("file:")).name.removesuffix(".safetensors")


def truth(cands: list[Candidate], root: Path, p, seeds: int) -> dict:
    """Per candidate: per seed, which test images the fine-tuned model gets right (for the bootstrap)."""
    out = {}
    for c in cands:
        _, meta = load(c, root)
        # The candidate's own resize and crop where the card has one (photo preprocessing), else its plain size.
        size = getattr(meta.preprocess, "resize", meta.preprocess.size)
        train, val, test = (load_split(root / "data/prepared", root, s, meta.in_chans, size)
                            for s in ("train", "val", "test"))
        data = FitData(train.data, val.data, meta.preprocess.mean, meta.preprocess.std)
        correct, secs = [], []
        for seed in range(seeds):
            t0 = time.perf_counter()
            model, _ = load(c, root)
            torch.manual_seed(seed)
            model = init_model(model, meta, len(train.classes), p.zero_init_head)
            run_strategy(p.strategy, model, data, _recipe(p, p.lr, seed), _probe_recipe(p, seed), Hooks(), None,
                         layer_decay=p.layer_decay, unfreeze_every=p.unfreeze_every)
            secs.append(time.perf_counter() - t0)
            pred = predict_logits(model, test.data, meta.preprocess.mean, meta.preprocess.std).argmax(1)
            correct.append((pred == test.data.labels).numpy())
        acc = [float(c_.mean()) for c_ in correct]
        out[c.name] = {"accs": acc, "mean": float(np.mean(acc)), "std": float(np.std(acc)),
                       "seconds_per_run": float(np.mean(secs)), "correct": np.stack(correct)}
        print(f"  truth {short(c.name):<36} {np.mean(acc):.4f} ± {np.std(acc):.4f}  ({np.mean(secs):.1f} s/run)",
              flush=True)
    return out


def compare(entries: list[dict], gt: dict, n_boot: int, seed: int = 0) -> dict:
    """tau, weighted tau (+ bootstrap interval) and regret of every estimator against the truth."""
    from scipy.stats import kendalltau, weightedtau

    names = [e["candidate"] for e in entries]
    correct = np.stack([gt[n]["correct"] for n in names])  # [candidates, seeds, test images]
    n_seeds, n_test = correct.shape[1:]
    rng = np.random.default_rng(seed)
    draws = [(rng.integers(0, n_seeds, n_seeds), rng.integers(0, n_test, n_test)) for _ in range(n_boot)]
    boot_truth = np.stack([correct[:, s][:, :, i].mean(axis=(1, 2)) for s, i in draws])  # [boot, candidates]
    truth_acc = correct.mean(axis=(1, 2))
    out = {}
    for name in ESTIMATORS:
        s = np.array([np.nan if e[name] is None else e[name] for e in entries], dtype=float)
        if np.isnan(s).any():
            continue
        pick = int(np.argmax(s))
        with warnings.catch_warnings():  # a saturated estimator (every score equal) has no tau: NaN, said below
            warnings.simplefilter("ignore")
            wt = [weightedtau(s, t).statistic for t in boot_truth]
            lo_hi = [float(np.nanpercentile(wt, q)) if not np.isnan(wt).all() else float("nan") for q in (2.5, 97.5)]
        regret = 100 * (boot_truth.max(axis=1) - boot_truth[:, pick])
        out[name] = {
            "kendall_tau": float(kendalltau(s, truth_acc).statistic),
            "weighted_tau": float(weightedtau(s, truth_acc).statistic),
            "weighted_tau_interval": lo_hi,
            "distinct_scores": int(len(np.unique(np.round(s, 6)))),
            "selected": short(names[pick]),
            "regret_points": float(100 * (truth_acc.max() - truth_acc[pick])),
            "regret_interval": [float(np.percentile(regret, 2.5)), float(np.percentile(regret, 97.5))],
            "scores": {short(n): float(v) for n, v in zip(names, s)},
        }
    return out


def _clean(x):
    """NaN (a saturated estimator's tau) as JSON null."""
    if isinstance(x, float) and np.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, default=Path("build/fashion/project-10"))
    ap.add_argument("--steps", type=int, default=60, help="fine-tuning steps of the truth (the budget)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    root = args.project.resolve()
    if not (root / "reports/selection.json").is_file():
        sys.exit(f"{root}: no reports/selection.json: run `python examples/fashion/run.py --labels 10` first")
    params = load_params(root / "params.yaml")
    p = params.finetune.model_copy(update={"steps": args.steps,
                                           "warmup_steps": min(params.finetune.warmup_steps, args.steps // 10)})
    cands = resolve(params.select.candidates, root / "models/zoo", root)  # as the select stage resolved them
    print(f"selection benchmark (real): {len(cands)} candidates, {args.seeds} seeds x {args.steps} steps, "
          f"project {root}", flush=True)
    t0 = time.perf_counter()
    gt = truth(cands, root, p, args.seeds)
    truth_seconds = time.perf_counter() - t0
    brute = sum(v["seconds_per_run"] for v in gt.values())
    scores(cands, root, ("train",), 1)  # warm-up: one-off imports and allocator growth, paid by no variant
    results = {"project": str(root), "candidates": [short(c.name) for c in cands], "seeds": args.seeds,
               "steps": args.steps, "bootstrap": args.bootstrap,
               "truth": {short(k): {kk: vv for kk, vv in v.items() if kk != "correct"} for k, v in gt.items()},
               "brute_force_seconds": brute, "truth_seconds_all_seeds": truth_seconds, "variants": {}}
    for vname, splits in {"train": ("train",), "train+val": ("train", "val")}.items():
        entries, secs = scores(cands, root, splits, 1)
        cmp = compare(entries, gt, args.bootstrap)
        results["variants"][vname] = {"scoring_seconds": secs, "cost_ratio": brute / secs, "estimators": cmp}
        print(f"\n[{vname}] scoring {secs:.1f} s for {len(cands)} candidates -> cost ratio {brute / secs:,.1f}x")
        print(f"  {'estimator':<10} {'tau':>6} {'w-tau':>6} {'w-tau 95%':>15} {'regret':>7}  selected")
        for name, r in cmp.items():
            lo, hi = r["weighted_tau_interval"]
            print(f"  {name:<10} {r['kendall_tau']:>6.2f} {r['weighted_tau']:>6.2f} [{lo:>5.2f}, {hi:>5.2f}]   "
                  f"{r['regret_points']:>5.1f}p  {r['selected']}", flush=True)
    accs = [v["mean"] for v in gt.values()]
    results["truth_spread_points"] = 100 * (max(accs) - min(accs))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "selection_real.json").write_text(json.dumps(_clean(results), indent=2) + "\n")
    default = results["variants"]["train+val"]
    print(f"\ntruth spread {results['truth_spread_points']:.1f} points; brute force {brute:.0f} s per pass; wrote "
          f"{args.out / 'selection_real.json'}")
    print(f"cost ratio (brute force / scoring with feature extraction, train+val): {default['cost_ratio']:,.1f}x")


if __name__ == "__main__":
    main()
