"""The negative-transfer gate's own benchmark: false alarms, detection, ties and cost, on the demo.

Each repetition re-splits the demo's real digits with another ``data.seed`` (a new train/val/test split, 3 labels
per class as shipped), then trains, with the finetune stage's own code and recipe, ``--seeds`` paired seeds (default
0-4) of:
- ``good``: transfer from ``zoo:resnet10t.digits`` (the demo's pick) against scratch: a `negative` verdict is a
  false alarm (goal <= 5 % of repetitions);
- ``harmful``: transfer from a source built to hurt: the random-label control (``zoo:resnet10t.random_labels``,
  pretrained on shuffled labels) with every convolution's weights multiplied by 10. BatchNorm cancels the scale,
  so it computes exactly the control's function, but AdamW's steps are 10x smaller relative to its weights, so
  fine-tuning barely moves it off features of noise. (The control as it is, or trained 10x longer to memorise,
  recovers at the shipped learning rate: NTG about +0.01, not harmful enough to test detection.) Its mean NTG is
  measured; `negative` is a detection (goal >= 90 %);
- ``tie``: scratch against scratch with other initial weights and data order (seed + 1000), equal in expectation by
  construction: `inconclusive` is right (goal >= 90 %), anything else is a wrong call. Equal in expectation over
  seeds, but every repetition reuses the same seeds, and a seed's initial weights and data order help or hurt
  alike on every re-split (``seed_effects``: two-way ANOVA, repetition x seed): the 20 ties are 20 splits of one
  draw of two seed sets, whose gap is printed.
Verdicts are computed for K = 3 (the first three seeds) and for all the seeds, from the same trainings, so the
default K can be chosen from the table. The scratch arms serve all three comparisons (they are the runs the check
stage would train). Cost: the K-seed check (K pairs + verdict) against a 1-seed check (1 pair + verdict), from the
measured training times.

Every arm's per-image correctness is cached in ``/tmp/graftline-gate/rep<r>/arms.npz`` (test labels included), so
a re-run (more repetitions, more seeds, another verdict rule) trains only what is missing. Usage:
python benchmarks/gate.py [--reps 20] [--seeds 0 1 2 3 4] [--workers 2]. Results are written after every
repetition to benchmarks/results/gate.json; prints the cost ratio last. Needs the zoo and the demo (`dvc repro zoo`).
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
INFLATE = 10.0  # the harmful source's convolution weights x INFLATE (see the docstring)


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


def harmful_zoo() -> Path:
    """A zoo directory holding the harmful source: the random-label control, convolutions x INFLATE."""
    import torch

    from graftline.models import weights

    out = WORK / f"harmful-zoo-x{INFLATE:g}"
    if (out / "zoo.json").is_file():
        return out
    name = SOURCES["harmful"].split(":")[1]
    model, meta = weights.load(ROOT / "models" / "zoo" / name)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(INFLATE)
    tmp = out.with_suffix(".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    sha = weights.save(tmp / name, model, meta)
    zoo = json.loads((ROOT / "models" / "zoo" / "zoo.json").read_text())
    zoo["candidates"] = [dict(c, weights_sha256=sha) for c in zoo["candidates"] if c["id"] == name]
    (tmp / "zoo.json").write_text(json.dumps(zoo, indent=2))
    tmp.rename(out)
    return out


def selection(kind: str) -> Path:
    from graftline.models.candidates import resolve
    from graftline.results import SelectionReport

    source = SOURCES[kind]
    path = WORK / f"selection-{kind}.json"
    (cand,) = resolve([source], harmful_zoo() if kind == "harmful" else ROOT / "models" / "zoo", ROOT)
    SelectionReport(estimator="logme", scored_on={}, data_hash="", ranking=[], selected=source,
                    selected_spec=cand.to_dict(), why="benchmark").write(path)
    return path


def _project(base: Path, prepared: Path, selection_path: Path):
    """A project folder for one arm (the stages take a Project): this repetition's split and selection, the demo's
    images and zoo linked from the repository."""
    import shutil

    from graftline.project import Project

    proj = Project(base)
    for link, target in ((proj.prepared, prepared), (proj.demo, ROOT / "data" / "demo"),
                         (proj.zoo, ROOT / "models" / "zoo")):
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(target.resolve(), target_is_directory=True)
    proj.selection.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(selection_path, proj.selection)
    return proj


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
    t0 = time.perf_counter()
    proj = _project(base, prepared, selection(kind if kind in SOURCES else "good"))
    if kind in SOURCES:
        run_finetune(ft, seed, proj)
    else:  # scratch (paired seed) or tie (the same recipe, other initial weights and data order)
        run_baseline(ft, p.check.scratch_lr, seed + (1000 if kind == "tie" else 0), proj)
    seconds = time.perf_counter() - t0
    seed_dir = proj.arm("finetune" if kind in SOURCES else "baseline", seed + (1000 if kind == "tie" else 0))
    model, meta = weights.load(seed_dir / "model")
    test = load_split(prepared, ROOT, "test", meta.in_chans, meta.preprocess.size, meta.preprocess)
    pred = predict_logits(model, test.data, meta.preprocess.mean, meta.preprocess.std).argmax(1).numpy()
    shutil.rmtree(seed_dir)
    return {"rep": rep, "kind": kind, "seed": seed, "ok": (pred == test.y.numpy()).tolist(),
            "y": test.y.numpy().tolist(), "classes": test.classes, "seconds": seconds}


def verdicts(arms: dict, y: np.ndarray, seeds: list[int], p) -> dict:
    from graftline.check.verdict import decide

    classes = [str(c) for c in range(int(y.max()) + 1)]

    def stack(kind):
        return np.array([arms[f"{kind}_{s}"] for s in seeds], dtype=bool)

    out = {}
    for name in ("good", "harmful", "tie"):
        v = decide(stack(name), stack("scratch"), y, classes, seeds, p.check.max_ntg, p.check.confidence,
                   p.check.bootstrap)
        out[name] = {"verdict": v.verdict, "ntg": v.ntg, "ntg_low": v.ntg_low, "ntg_high": v.ntg_high,
                     "per_seed": [round(d.ntg, 4) for d in v.per_seed]}
    t0 = time.perf_counter()
    decide(stack("good"), stack("scratch"), y, classes, seeds, p.check.max_ntg, p.check.confidence, p.check.bootstrap)
    verdict_s = time.perf_counter() - t0
    sec = [arms[f"seconds_{k}_{s}"] for k in ("good", "scratch") for s in seeds if f"seconds_{k}_{s}" in arms]
    pair = 2 * float(np.mean(sec))  # the mean measured arm time (cached arms from earlier runs may lack one)
    out["cost"] = {"k_seed_s": len(seeds) * pair + verdict_s, "one_seed_s": pair + verdict_s}
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
            "tie_positive_rate": share("tie", "positive"), "cost_ratio_k_vs_1": ratio}


def seed_effects(acc: dict, seeds: list[int]) -> dict:
    """Is a training seed's effect the same on every re-split? ``acc[(rep, kind, seed)]`` = test accuracy. Per arm
    (scratch: seeds s; tie: seeds s + 1000), a two-way ANOVA of accuracy on repetition x seed: F and p of the seed
    effect. The repetitions re-split the data but reuse the same seeds, so a seed that is good on one split tends
    to be good on the next: the tie's two seed sets are one draw, not 20, and their mean gap is reported."""
    from scipy import stats

    reps = sorted({r for r, _, _ in acc})
    out = {}
    for kind in ("scratch", "tie"):
        m = np.array([[acc[(r, kind, s)] for s in seeds] for r in reps])  # [reps, seeds]
        seed_eff, rep_eff = m.mean(0) - m.mean(), m.mean(1) - m.mean()
        resid = m - m.mean() - seed_eff[None] - rep_eff[:, None]
        df_seed, df_res = len(seeds) - 1, (len(seeds) - 1) * (len(reps) - 1)
        f = (len(reps) * (seed_eff ** 2).sum() / df_seed) / ((resid ** 2).sum() / df_res)
        out[kind] = {"per_seed_mean_acc": [round(float(v), 4) for v in m.mean(0)], "seed_F": float(f),
                     "seed_p": float(stats.f.sf(f, df_seed, df_res)), "df": [df_seed, df_res]}
    out["tie_minus_scratch_acc"] = float(np.mean([acc[(r, "tie", s)] - acc[(r, "scratch", s)]
                                                  for r in reps for s in seeds]))
    return out


def load_arms(rep: int) -> dict:
    f = WORK / f"rep{rep}" / "arms.npz"
    if f.is_file():
        with np.load(f) as z:
            return {k: z[k] for k in z.files}
    old = WORK / f"rep{rep}" / "correct.npz"  # the first runs' cache (good/scratch/tie keep; harmful was the control)
    if old.is_file():
        with np.load(old) as z:
            return {k: z[k] for k in z.files if not k.startswith("harmful")}
    return {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    p = _params()
    seeds, ks = a.seeds, sorted({min(3, len(a.seeds)), len(a.seeds)})
    WORK.mkdir(parents=True, exist_ok=True)
    harmful_zoo()
    out_path = ROOT / "benchmarks" / "results" / "gate.json"
    reps: dict = {k: {} for k in ks}
    acc: dict = {}  # (rep, kind, seed) -> test accuracy, for seed_effects
    t_start = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as pool:
        for rep in range(a.reps):
            split(rep, p)
            arms = load_arms(rep)
            todo = [(rep, kind, s, p) for s in seeds for kind in ("good", "scratch", "harmful", "tie")
                    if f"{kind}_{s}" not in arms]
            for r in pool.map(train, todo):
                arms[f"{r['kind']}_{r['seed']}"] = np.array(r["ok"], dtype=bool)
                arms[f"seconds_{r['kind']}_{r['seed']}"] = np.array(r["seconds"])
                arms["y"] = np.array(r["y"])
            tmp = WORK / f"rep{rep}" / "arms.tmp.npz"
            np.savez_compressed(tmp, **arms)
            tmp.rename(WORK / f"rep{rep}" / "arms.npz")
            for k in ks:
                reps[k][rep] = verdicts(arms, arms["y"], seeds[:k], p)
            acc.update({(rep, kind, s): float(arms[f"{kind}_{s}"].mean()) for kind in ("scratch", "tie")
                        for s in seeds})
            out_path.write_text(json.dumps({
                "summary": {f"K={k}": summarise(reps[k]) for k in ks}, "seeds": seeds,
                "seed_effects": seed_effects(acc, seeds),
                "harmful_source": f"{SOURCES['harmful']} with convolution weights x{INFLATE:g}",
                "per_repetition": {f"K={k}": reps[k] for k in ks},
                "wall_seconds": time.perf_counter() - t_start, "load_average": os.getloadavg()}, indent=1) + "\n")
            line = " | ".join(f"K={k}: " + " ".join(f"{n} {reps[k][rep][n]['verdict'][:5]} ({reps[k][rep][n]['ntg']:+.3f})"
                                                   for n in ("good", "harmful", "tie")) for k in ks)
            print(f"rep {rep:2d}: {line}", flush=True)
    for k in ks:
        s = summarise(reps[k])
        print(f"K = {k}: false alarms (good source called negative) {100 * s['false_alarm_rate']:.0f} % of "
              f"{s['repetitions']} (goal <= 5 %), good called positive {100 * s['good_positive_rate']:.0f} %; "
              f"detection (harmful source, mean NTG {s['harmful_mean_ntg']:+.3f}) {100 * s['detection_rate']:.0f} % "
              f"(goal >= 90 %); ties inconclusive {100 * s['tie_inconclusive_rate']:.0f} % (goal >= 90 %)")
    se = seed_effects(acc, seeds)
    print(f"seed effect across re-splits: scratch F({se['scratch']['df'][0]},{se['scratch']['df'][1]}) = "
          f"{se['scratch']['seed_F']:.2f} (p = {se['scratch']['seed_p']:.2g}), tie F = {se['tie']['seed_F']:.2f} "
          f"(p = {se['tie']['seed_p']:.2g}); the tie's seeds {seeds[0] + 1000}..{seeds[-1] + 1000} score "
          f"{100 * se['tie_minus_scratch_acc']:+.1f} points above scratch's {seeds[0]}..{seeds[-1]} on average "
          "(one draw of two seed sets, reused by every repetition)")
    for k in ks:
        print(f"cost of the {k}-seed check vs a 1-seed check: {summarise(reps[k])['cost_ratio_k_vs_1']:.2f}x")


if __name__ == "__main__":
    main()
