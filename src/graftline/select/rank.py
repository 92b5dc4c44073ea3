"""The select stage: score every candidate on the target's labelled images, rank, pick the best.

Each candidate costs one forward pass over the target images (cached) and a few estimator evaluations; fine-tuning
every candidate instead is what this replaces (benchmarks/selection.py measures both). With ``executor: dask``
candidates are scored in parallel on a dask.distributed cluster — a LocalCluster, or the scheduler named in
``select.scheduler`` (the workers need graftline installed and the project's files at the same paths).
"""

from __future__ import annotations

import logging

import time
from pathlib import Path

import numpy as np

from graftline.config import SelectParams
from graftline.data.manifest import read_manifest
from graftline.errors import ModelError
from graftline.models.candidates import Candidate, load, resolve
from graftline.project import Project
from graftline.atomic import write_json_atomic
from graftline.results import SelectionReport
from graftline.select import estimators as E
from graftline.select.features import Target, candidate_features

# Every estimator is computed for every candidate and kept in the report; `select.estimator` only orders them.
log = logging.getLogger(__name__)


def score_features(feats: np.ndarray, logits: np.ndarray | None, labels: np.ndarray,
                   settings: dict | None = None) -> dict[str, float | None]:
    """Every registered estimator on one candidate's features/logits (``settings``: the ``select`` params they read,
    see ``estimators.option_params``). Those needing a source head are None for a headless backbone."""
    return E.score_all(feats, logits, labels, settings)


def score_candidate(cand: dict, target: Target, settings: dict) -> dict:
    """Load one candidate, extract (or fetch cached) features, compute every estimator. Runs in a dask worker too.

    ``cand`` is ``Candidate.to_dict()`` and everything here is plain data, so the call pickles cheaply.
    An unloadable candidate raises ModelError, or with ``skip_unloadable`` returns ``{"skipped": reason}``.
    """
    import torch

    if settings.get("threads"):
        torch.set_num_threads(settings["threads"])
    c = Candidate.from_dict(cand)
    t0 = time.perf_counter()
    try:
        model, card = load(c, Path(settings["project_root"]))
    except ModelError as exc:
        if settings["skip_unloadable"]:
            return {"candidate": c.name, "skipped": str(exc)}
        raise
    t_load = time.perf_counter()
    views = settings["views"]
    cache = Path(settings["cache_dir"]) if settings["cache_dir"] else None
    feats, logits, cached = candidate_features(model, card, target, views, settings["batch_size"], cache)
    t_feat = time.perf_counter()
    labels = np.tile(np.asarray(target.labels), views)
    scores = score_features(feats, logits, labels, settings["estimator_options"])
    t_score = time.perf_counter()
    return {
        "candidate": c.name, "kind": c.kind, "architecture": card.architecture, "feature_dim": int(feats.shape[1]),
        "source_classes": int(logits.shape[1]) if logits is not None else None,
        "preprocessing": {"input_size": list(card.preprocess.input_size), "mean": list(card.preprocess.mean),
                          "std": list(card.preprocess.std)},
        "weights_sha256": card.weights_sha256, "spec": cand, **scores,
        "_timing": {"load_s": t_load - t0, "features_s": t_feat - t_load, "scoring_s": t_score - t_feat,
                    "features_cached": cached},
    }


def _rank_normalised(values: list[float | None]) -> list[float | None]:
    """Ranks scaled to [0, 1] (1 = best); ties share the mean rank; None stays None."""
    idx = [i for i, v in enumerate(values) if v is not None and np.isfinite(v)]
    out: list[float | None] = [None] * len(values)
    if len(idx) == 1:
        out[idx[0]] = 1.0
    elif idx:
        from scipy.stats import rankdata

        ranks = rankdata([values[i] for i in idx])  # 1 = lowest
        for i, r in zip(idx, ranks):
            out[i] = float((r - 1) / (len(idx) - 1))
    return out


def add_ensemble(entries: list[dict]) -> None:
    """The ``ensemble`` score: the mean rank-normalised score over the ensemble's members (registered with
    ``ensemble=True``); estimators a candidate lacks are skipped."""
    members = E.ensemble_members()
    cols = {name: _rank_normalised([e.get(name) for e in entries]) for name in members}
    for i, e in enumerate(entries):
        vals = [cols[n][i] for n in members if cols[n][i] is not None]
        e[E.ENSEMBLE] = float(np.mean(vals)) if vals else None


def _run_local(cands: list[dict], target: Target, settings: dict) -> list[dict]:
    return [score_candidate(c, target, settings) for c in cands]


def _run_dask(cands: list[dict], target: Target, settings: dict, p: SelectParams) -> list[dict]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ModelError("select.executor: dask needs dask.distributed (`pip install 'dask[distributed]'`).") from None
    if p.scheduler:
        client, cluster = Client(p.scheduler), None
    else:
        # One thread per worker process: torch in each, no oversubscription.
        cluster = LocalCluster(n_workers=p.dask_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    try:
        futures = client.map(score_candidate, cands, target=target, settings={**settings, "threads": 1}, pure=False)
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_select(p: SelectParams, proj: Project) -> SelectionReport:
    """Score each candidate with every estimator; rank by ``p.estimator``; write ``report_path``.

    Timings and cache hits go to ``metrics_path`` (.graftline/timings/select.json, no DVC output): the report is a
    dependency of fine-tuning and must not change when only the clock or the cache did.
    """
    prepared, zoo_dir, project_root, report_path, metrics_path = (proj.prepared, proj.zoo, proj.root, proj.selection,
                                                                  proj.timings("select"))
    rows, classes, meta = read_manifest(prepared)
    splits = ("train", "val") if p.score_on == "train+val" else ("train",)
    scored_rows = [r for r in rows if r.split in splits]
    if not scored_rows:
        raise ModelError(f"{prepared}: no labelled images in split(s) {', '.join(splits)} to score candidates on.")
    target = Target(str((project_root / meta["root"]).resolve()), tuple(r.path for r in scored_rows),
                    tuple(r.sha256 for r in scored_rows), tuple(classes.index(r.label) for r in scored_rows),
                    meta.get("color_mode", "auto"), meta.get("max_pixels"))
    cands = [c.to_dict() for c in resolve(p.candidates, zoo_dir, project_root)]
    cache = (project_root / p.feature_cache) if p.feature_cache else None
    settings = {"views": p.views, "batch_size": p.batch_size,
                "estimator_options": {k: getattr(p, k) for k in E.option_params()},
                "skip_unloadable": p.skip_unloadable, "cache_dir": str(cache) if cache else None,
                "project_root": str(project_root.resolve())}
    t0 = time.perf_counter()
    results = _run_dask(cands, target, settings, p) if p.executor == "dask" else _run_local(cands, target, settings)
    wall = time.perf_counter() - t0
    skipped = [r for r in results if "skipped" in r]
    scored = [r for r in results if "skipped" not in r]
    for r in skipped:
        log.warning("select: skipped %s: %s", r["candidate"], r["skipped"])
    if not scored:
        raise ModelError("select: no candidate could be loaded; each one and its fix:\n"
                         + "\n".join(f"  - {r['candidate']}: {r['skipped']}" for r in skipped))
    add_ensemble(scored)
    timings = {r["candidate"]: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.pop("_timing").items()}
               for r in scored}
    key = p.estimator
    missing = [r["candidate"] for r in scored if r.get(key) is None]
    if missing:
        raise ModelError(f"select.estimator: {key} needs each candidate's source head, which "
                         f"{', '.join(missing)} lack(s). Fix: choose one of "
                         f"{', '.join(n for n, e in E.REGISTRY.items() if not e.needs_head)}.")
    ranking = sorted(scored, key=lambda e: e[key], reverse=True)
    for e in ranking:
        log.info("select: %-36s %s %+.4f", e["candidate"], key, e[key])
    best = ranking[0]
    margin = best[key] - ranking[1][key] if len(ranking) > 1 else None
    report = SelectionReport(
        estimator=key,
        scored_on={"splits": list(splits), "images": len(scored_rows), "views": p.views,
                   "classes": len(set(target.labels))},
        data_hash=meta["data_hash"],
        ranking=ranking,
        selected=best["candidate"],
        selected_spec=best["spec"],
        why=(f"highest {key} ({best[key]:+.4f})"
             + (f", {margin:.4f} above the runner-up {ranking[1]['candidate']}" if margin is not None else "")
             + f" of {len(ranking)} candidates scored on {len(scored_rows)} labelled images"
             + (f" x {p.views} views" if p.views > 1 else "")),
        skipped=[{"candidate": r["candidate"], "reason": r["skipped"]} for r in skipped],
        scale=E.scales(),  # one entry per score column of the ranking rows
    )
    report.write(report_path)
    if metrics_path is not None:
        write_json_atomic(metrics_path, {"wall_seconds": round(wall, 3), "executor": p.executor,
                                         "candidates": timings})
    return report
