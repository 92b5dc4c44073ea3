"""The compare stage: this run's exported model (the challenger) against the registry's champion.

The champion is the model at the registry stage ``compare.stage`` (default ``prod``: the latest GTO assignment tag
of the ``artifacts:`` model in dvc.yaml). The library reads no git and imports no DVC: ``graftline compare`` first
has the registry helper (``python -m graftline_flows.registry champion``, DVC + GTO) put the champion's files in
``.graftline/champion/``, read here:

- ``champion.json``: version, commit, tag and the tag's message (``{"version": null}``: nothing at the stage yet);
- ``model.onnx``: the champion's exported model at that commit, fetched through DVC (no re-training);
- ``manifest.csv``: the data/prepared manifest it was trained on (its lineage): every image it trained or validated
  on is left out of the comparison, by content (sha256), wherever it sits today;
- ``data_profile.json``: its training data's profile, which today's data is measured against (drift).

Both models are scored with onnxruntime on the same images, each with its own card's preprocessing; the paired
statistics and the decision are ``compare.stats``. Comparing a model with itself (the same weights hash) is an error:
the MLflow bug of a candidate silently evaluated against itself (mlflow PR #12215) must fail loudly here.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from graftline.compare.drift import drift
from graftline.compare.score import predict_labels, weights_digest
from graftline.compare.stats import decide, paired_delta
from graftline.config import CompareParams
from graftline.data.manifest import read_manifest
from graftline.errors import ConfigError, ModelError
from graftline.project import Project
from graftline.results.compare import Champion, ClassDelta, CompareResult


def _seen(manifest: Path) -> set[str]:
    """sha256 of every image the champion trained or validated on (its manifest's train and val rows)."""
    with manifest.open(newline="", encoding="utf-8") as f:
        return {r["sha256"] for r in csv.DictReader(f) if r["split"] in ("train", "val")}


def read_champion(champion_dir: Path) -> dict | None:
    info = champion_dir / "champion.json"
    if not info.is_file():
        raise ConfigError(f"{info} not found: the compare stage reads the champion the registry helper fetched. "
                          "Run `graftline compare` (it fetches it first), or `python -m graftline_flows.registry "
                          "champion` then `graftline compare --no-fetch`.")
    meta = json.loads(info.read_text())
    return meta if meta.get("version") else None


def run_compare(p: CompareParams, proj: Project, champion_dir: Path | None = None) -> CompareResult:
    """Score champion and challenger on today's test images the champion never saw; write metrics/compare.json."""
    champion_dir = champion_dir or proj.champion
    rows, classes, meta = read_manifest(proj.prepared)
    root = (proj.root / meta["root"]).resolve()
    test = [r for r in rows if r.split == "test"]
    challenger = proj.onnx_model
    base = dict(mode=p.mode, margin=p.margin, confidence=p.confidence, stage=p.stage, data_hash=meta["data_hash"],
                test_images=len(test), challenger_onnx_sha256=hashlib.sha256(challenger.read_bytes()).hexdigest()
                if challenger.is_file() else "")
    champ = read_champion(champion_dir)
    if champ is None:
        _, card = predict_labels(challenger, [])
        decision, why = decide(None, None, p.mode, p.margin, has_champion=False)
        result = CompareResult(decision=decision, why=why, challenger_weights_sha256=weights_digest(challenger, card),
                               **base)
        result.write(proj.compare_json)
        return result
    seen = _seen(champion_dir / "manifest.csv")
    compared = [r for r in test if r.sha256 not in seen]
    paths = [root / r.path for r in compared]
    got_new, card_new = predict_labels(challenger, paths)
    got_old, card_old = predict_labels(champion_dir / "model.onnx", paths)
    new_w, old_w = weights_digest(challenger, card_new), weights_digest(champion_dir / "model.onnx", card_old)
    if new_w == old_w:
        raise ModelError(f"{challenger}: the challenger has the same weights (sha256 {new_w[:12]}) as the champion at "
                         f"stage {p.stage} ({champ['tag']}, commit {champ['commit'][:10]}): comparing a model with "
                         "itself says nothing. Nothing changed since it was promoted: re-run only after new data or "
                         "params make a new model.")
    truth = np.array([r.label for r in compared])
    new_ok, old_ok = np.array(got_new) == truth, np.array(got_old) == truth
    st = paired_delta(new_ok, old_ok, p.confidence, p.bootstrap)
    decision, why = decide(st["low"], st["high"], p.mode, p.margin)
    per_class = []
    for k, label in enumerate(classes):
        m = truth == label
        if m.any():
            s = paired_delta(new_ok[m], old_ok[m], p.confidence, p.bootstrap, seed=k + 1)
            per_class.append(ClassDelta(label=label, images=int(m.sum()), challenger_acc=s["challenger_acc"],
                                        champion_acc=s["champion_acc"], delta=s["delta"], delta_low=s["low"],
                                        delta_high=s["high"]))
    profile_path = champion_dir / "data_profile.json"
    feats = drift(json.loads(profile_path.read_text()), [r.label for r in rows],
                  [r.width if r.width is not None else np.nan for r in rows],
                  [r.height if r.height is not None else np.nan for r in rows]) if profile_path.is_file() else []
    result = CompareResult(
        decision=decision, why=why, challenger_weights_sha256=new_w,
        champion=Champion(version=champ["version"], commit=champ["commit"], tag=champ["tag"],
                          message=champ.get("message", ""), onnx_sha256=hashlib.sha256(
                              (champion_dir / "model.onnx").read_bytes()).hexdigest(), weights_sha256=old_w,
                          data_hash=card_old.lineage.data_hash),
        compared_images=len(compared), excluded_images=len(test) - len(compared),
        challenger_acc=st["challenger_acc"], champion_acc=st["champion_acc"], delta=st["delta"],
        delta_low=st["low"], delta_high=st["high"], mcnemar_p=st["p"], challenger_only_right=st["b"],
        champion_only_right=st["c"], per_class=per_class, drift=feats,
        max_psi=max((f.psi for f in feats), default=None), **base)
    result.write(proj.compare_json)
    return result
