"""The select stage: score every candidate on the target's training split, rank, pick the best."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from graftline.config import SelectParams
from graftline.data.images import load_rows
from graftline.data.manifest import read_manifest
from graftline.errors import ConfigError
from graftline.models import weights
from graftline.models.zoo import zoo_members
from graftline.project import write_json_atomic
from graftline.select.estimators import ESTIMATORS
from graftline.select.features import penultimate

SCALE_NOTE = ("LogME is the maximised log evidence per sample of a Bayesian linear model on the features: a "
              "log-density, not a probability, so it can exceed 1 or be negative. Only differences between "
              "candidates on the same data matter; higher is better.")


def resolve_candidates(specs: list[str], zoo_dir: Path) -> list[str]:
    """'zoo:*' -> every zoo model; 'zoo:<id>' checked to exist."""
    present = zoo_members(zoo_dir)
    out: list[str] = []
    for spec in specs:
        scheme, _, name = spec.partition(":")
        if name == "*":
            out += [f"zoo:{m}" for m in present if f"zoo:{m}" not in out]
        elif name in present:
            out.append(spec)
        else:
            raise ConfigError(f"select.candidates: {spec!r} is not in {zoo_dir} (present: {', '.join(present) or 'none'}). "
                              "Fix the id or add it to zoo.candidates.")
    if not out:
        raise ConfigError(f"select.candidates matched no model in {zoo_dir}; run the zoo stage first.")
    return out


def candidate_stem(spec: str, zoo_dir: Path) -> Path:
    return zoo_dir / spec.partition(":")[2]


def run_select(p: SelectParams, prepared: Path, zoo_dir: Path, project_root: Path, report_path: Path,
               metrics_path: Path | None = None) -> dict:
    """Score each candidate with every available estimator; rank by ``p.estimator``; write ``report_path``.

    Timings go to ``metrics_path``: the report is a dependency of fine-tuning and must not change when only the
    clock did.
    """
    rows, classes, meta = read_manifest(prepared)
    root = (project_root / meta["root"]).resolve()
    train = [r for r in rows if r.split == "train"]
    labels = np.array([classes.index(r.label) for r in train])
    scored = []
    timings = {}
    inputs: dict[tuple, torch.Tensor] = {}
    for spec in resolve_candidates(p.candidates, zoo_dir):
        t0 = time.perf_counter()
        model, m = weights.load(candidate_stem(spec, zoo_dir))
        key = (m["in_chans"], tuple(m["input_size"][1:]))
        if key not in inputs:  # decode once per preprocessing
            inputs[key] = load_rows(root, [r.path for r in train], m["in_chans"], key[1])
        feats = penultimate(model, inputs[key], m["mean"], m["std"], p.batch_size)
        entry = {"candidate": spec, "architecture": m["architecture"], "feature_dim": int(feats.shape[1])}
        for name, fn in ESTIMATORS.items():
            entry[name] = fn(feats, labels)
        timings[spec] = {"seconds": round(time.perf_counter() - t0, 3), p.estimator: entry[p.estimator]}
        scored.append(entry)
        print(f"select: {spec:<36} {p.estimator} {entry[p.estimator]:+.4f}", flush=True)
    ranking = sorted(scored, key=lambda e: e[p.estimator], reverse=True)
    best = ranking[0]
    margin = best[p.estimator] - ranking[1][p.estimator] if len(ranking) > 1 else None
    report = {
        "estimator": p.estimator, "scored_on": {"split": "train", "images": len(train)},
        "data_hash": meta["data_hash"], "ranking": ranking, "selected": best["candidate"],
        "why": (f"highest {p.estimator} ({best[p.estimator]:+.4f})"
                + (f", {margin:.4f} above the runner-up {ranking[1]['candidate']}" if margin is not None else "")),
        "scale": SCALE_NOTE,
    }
    write_json_atomic(report_path, report)
    if metrics_path is not None:
        write_json_atomic(metrics_path, timings)
    return report
