"""The negative-transfer gate's own benchmark: false alarms, detection, ties and cost, sequential vs fixed K.

Each repetition is an independent draw: it re-splits the demo's real digits with another ``data.seed`` (a new
train/val/test split, 3 labels per class as shipped) AND trains with new seeds (repetition r uses seeds
10000 + 5 r .. 10000 + 5 r + 4; the tie's second scratch arm 50000 + ...), so no seed's effect carries across
repetitions (the earlier version reused seeds 0-4 and found F(4, 76) = 5.2 for the seed effect). Per repetition it
trains, with the finetune stage's own code and recipe at a reduced budget (``--steps``, default 100, to fit the CPU
budget; the verdict's logic does not depend on it), five paired seeds of:
- ``good``: transfer from ``zoo:resnet10t.digits`` (the demo's pick) against scratch: a `negative` verdict is a
  false alarm (goal <= 5 % of repetitions);
- ``harmful``: transfer from a source built to hurt: the random-label control (``zoo:resnet10t.random_labels``,
  pretrained on shuffled labels) with every convolution's weights multiplied by 10. BatchNorm cancels the scale,
  so it computes exactly the control's function, but AdamW's steps are 10x smaller relative to its weights, so
  fine-tuning barely moves it off features of noise. `negative` is a detection (goal >= 90 %);
- ``tie``: scratch against scratch with other initial weights and data order: `inconclusive` is right (goal >= 90
  %), anything else is a wrong call.
The verdicts are computed from the same trainings for the fixed design (K = 5 pairs, one look at 95 %) and for the
sequential design (check/sequential.py: min_seeds 2 or 3, then one pair per look up to 5, Bonferroni over the looks),
which uses a prefix of the same five pairs: the table reports, per design and case, the calls and the mean number of
pairs trained, and the training time those pairs cost (measured per arm).

Every arm's per-image correctness is cached in ``/tmp/graftline-gate-seq/rep<r>/arms.npz``, so a re-run trains only
what is missing. Usage: python benchmarks/gate.py [--reps 20] [--steps 100] [--workers 2]. Results are written after
every repetition to benchmarks/results/gate.json. Needs the zoo and the demo (`dvc repro zoo`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/graftline-gate-seq")
K = 5  # pairs per repetition (the fixed design; the sequential one uses a prefix)
DESIGNS = {"fixed K=5": None, "sequential min 2": 2, "sequential min 3": 3}
SOURCES = {"good": "zoo:resnet10t.digits", "harmful": "zoo:resnet10t.random_labels"}
TIE = 40000  # the tie arm's seeds: the pair's seed + TIE (another draw of initial weights and data order)
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
    SelectionReport(estimator="logme", scored_on={"splits": [], "images": 0, "classes": 0}, data_hash="", ranking=[],
                    selected=source,
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
    rep, kind, seed, p, steps = task  # params read once at the start: editing params.yaml meanwhile changes nothing
    ft = p.finetune.model_copy(update={"resume": False, "steps": steps, "warmup_steps": min(p.finetune.warmup_steps,
                                                                                              steps // 10)})
    prepared = split(rep, p)
    base = WORK / f"rep{rep}" / kind
    t0 = time.perf_counter()
    proj = _project(base, prepared, selection(kind if kind in SOURCES else "good"))
    if kind in SOURCES:
        run_finetune(ft, seed, proj)
    else:  # scratch (paired seed) or tie (the same recipe, other initial weights and data order)
        run_baseline(ft, p.check.scratch_lr, seed + (TIE if kind == "tie" else 0), proj)
    seconds = time.perf_counter() - t0
    seed_dir = proj.arm("finetune" if kind in SOURCES else "baseline", seed + (TIE if kind == "tie" else 0))
    model, meta = weights.load(seed_dir / "model")
    test = load_split(prepared, ROOT, "test", meta.in_chans, meta.preprocess.size, meta.preprocess)
    pred = predict_logits(model, test.data, meta.preprocess.mean, meta.preprocess.std).argmax(1).numpy()
    shutil.rmtree(seed_dir)
    return {"rep": rep, "kind": kind, "seed": seed, "ok": (pred == test.y.numpy()).tolist(),
            "y": test.y.numpy().tolist(), "classes": test.classes, "seconds": seconds}


def seeds_of(rep: int) -> list[int]:
    """Repetition ``rep``'s own training seeds: no seed is used by two repetitions."""
    return [10000 + K * rep + i for i in range(K)]


def verdicts(arms: dict, y: np.ndarray, seeds: list[int], p) -> dict:
    """Per design and case: the verdict, NTG, pairs trained and the training seconds those pairs cost."""
    from graftline.check.sequential import run_sequential

    classes = [str(c) for c in range(int(y.max()) + 1)]

    def stack(kind):
        return np.array([arms[f"{kind}_{s}"] for s in seeds], dtype=bool)

    def cost(kind, k):
        return float(sum(arms[f"seconds_{kind}_{s}"] + arms[f"seconds_scratch_{s}"] for s in seeds[:k]))

    out: dict = {}
    for design, min_seeds in DESIGNS.items():
        out[design] = {}
        for name in ("good", "harmful", "tie"):
            r = run_sequential(stack(name), stack("scratch"), y, classes, seeds, min_seeds or len(seeds),
                               p.check.max_ntg, p.check.confidence, p.check.bootstrap)
            v = r.verdict
            out[design][name] = {"verdict": v.verdict, "ntg": v.ntg, "ntg_low": v.ntg_low, "ntg_high": v.ntg_high,
                                 "pairs": r.pairs_used, "looks": r.looks, "train_seconds": cost(name, r.pairs_used),
                                 "per_seed": [round(d.ntg, 4) for d in v.per_seed]}
    return out


def summarise(reps: dict, design: str) -> dict:
    rows = [r[design] for r in reps.values()]
    n = len(rows)
    share = lambda kind, v: sum(r[kind]["verdict"] == v for r in rows) / n  # noqa: E731
    mean = lambda kind, key: float(np.mean([r[kind][key] for r in rows]))  # noqa: E731
    return {"repetitions": n, "false_alarm_rate": share("good", "negative"), "good_positive_rate":
            share("good", "positive"), "detection_rate": share("harmful", "negative"),
            "harmful_mean_ntg": mean("harmful", "ntg"), "good_mean_ntg": mean("good", "ntg"),
            "tie_inconclusive_rate": share("tie", "inconclusive"), "tie_negative_rate": share("tie", "negative"),
            "tie_positive_rate": share("tie", "positive"),
            **{f"{k}_mean_pairs": mean(k, "pairs") for k in ("good", "harmful", "tie")},
            **{f"{k}_mean_train_seconds": mean(k, "train_seconds") for k in ("good", "harmful", "tie")}}


def load_arms(rep: int) -> dict:
    f = WORK / f"rep{rep}" / "arms.npz"
    if f.is_file():
        with np.load(f) as z:
            return {k: z[k] for k in z.files}
    return {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100, help="optimizer steps per arm (the demo ships 300)")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    p = _params()
    WORK.mkdir(parents=True, exist_ok=True)
    harmful_zoo()
    out_path = ROOT / "benchmarks" / "results" / "gate.json"
    reps: dict = {}
    t_start = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as pool:
        for rep in range(a.reps):
            split(rep, p)
            seeds = seeds_of(rep)
            arms = load_arms(rep)
            todo = [(rep, kind, s, p, a.steps) for s in seeds for kind in ("good", "scratch", "harmful", "tie")
                    if f"{kind}_{s}" not in arms]
            for r in pool.map(train, todo):
                arms[f"{r['kind']}_{r['seed']}"] = np.array(r["ok"], dtype=bool)
                arms[f"seconds_{r['kind']}_{r['seed']}"] = np.array(r["seconds"])
                arms["y"] = np.array(r["y"])
            tmp = WORK / f"rep{rep}" / "arms.tmp.npz"
            np.savez_compressed(tmp, **arms)
            tmp.rename(WORK / f"rep{rep}" / "arms.npz")
            reps[rep] = verdicts(arms, arms["y"], seeds, p)
            out_path.write_text(json.dumps({
                "summary": {d: summarise(reps, d) for d in DESIGNS}, "pairs_per_repetition": K,
                "steps_per_arm": a.steps, "seeds": "10000 + 5 r + i (new seeds every repetition)",
                "harmful_source": f"{SOURCES['harmful']} with convolution weights x{INFLATE:g}",
                "per_repetition": reps, "wall_seconds": time.perf_counter() - t_start,
                "load_average": os.getloadavg()}, indent=1) + "\n")
            line = " | ".join(f"{d}: " + " ".join(f"{n} {reps[rep][d][n]['verdict'][:5]}/{reps[rep][d][n]['pairs']}"
                                                for n in ("good", "harmful", "tie")) for d in DESIGNS)
            print(f"rep {rep:2d}: {line}", flush=True)
    for d in DESIGNS:
        s = summarise(reps, d)
        print(f"{d}: false alarms {100 * s['false_alarm_rate']:.0f} % of {s['repetitions']} (goal <= 5 %), good "
              f"positive {100 * s['good_positive_rate']:.0f} %; detection (mean NTG {s['harmful_mean_ntg']:+.3f}) "
              f"{100 * s['detection_rate']:.0f} % (goal >= 90 %); ties inconclusive "
              f"{100 * s['tie_inconclusive_rate']:.0f} % (goal >= 90 %); mean pairs good/harmful/tie "
              f"{s['good_mean_pairs']:.2f}/{s['harmful_mean_pairs']:.2f}/{s['tie_mean_pairs']:.2f}")
    print(f"wall time {time.perf_counter() - t_start:.0f} s for {a.reps} repetitions x {4 * K} trainings")


if __name__ == "__main__":
    main()
