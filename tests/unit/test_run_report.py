"""The run report from small real result files: the evidence behind the verdict is on the page (every seed's row,
per-class NTG, the INT8 decision), the verdict's colour follows its meaning, and a project without a zoo stage is
not told that its zoo is missing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from graftline.check.verdict import decide
from graftline.project import Project
from graftline.report import run_report
from graftline.report.collect import collect
from graftline.results import (CheckPredictions, CheckResult, ExportResult, SeedPredictions, SelectionReport,
                               TrainResult)

CLASSES = ["cat", "dog", "fox"]
SEEDS = [3, 5]
INT8 = {"kept": False, "reason": "refused: not faster than fp32 at batch 32", "test_acc": {"fp32": 0.9, "int8": 0.9}, "top1_agreement": 1.0,
        "threads": 2}


def _project(root: Path, transfer_right: float, stages: list[str]) -> Path:
    """A project whose two arms predicted the 60-image test split: transfer right on ``transfer_right`` of it,
    scratch on half (each seed on other images); the check result is the real verdict on those predictions."""
    y = np.repeat(np.arange(3), 20)
    preds = []
    for s in SEEDS:  # each seed right on as many images, different ones
        rng = np.random.default_rng(s)
        t = np.where(rng.permutation(60) < round(60 * transfer_right), y, (y + 1) % 3)
        b = np.where(rng.permutation(60) < 30, y, (y + 2) % 3)
        preds.append(SeedPredictions(seed=s, transfer=t.tolist(), scratch=b.tolist()))
    CheckPredictions(data_hash="d" * 64, classes=CLASSES, labels=y.tolist(), seeds=preds).write(
        root / "reports/test_predictions.json")
    v = decide(np.stack([np.array(p.transfer) == y for p in preds]),
               np.stack([np.array(p.scratch) == y for p in preds]), y, CLASSES, SEEDS, max_ntg=0.0)
    CheckResult(verdict=v.verdict, ntg=v.ntg, ntg_low=v.ntg_low, ntg_high=v.ntg_high, confidence=v.confidence,
                max_ntg=0.0, passed=v.verdict != "negative", seeds=SEEDS, exported_seed=SEEDS[0], test_images=60,
                transfer_acc=v.transfer_acc, scratch_acc=v.scratch_acc, per_seed=v.per_seed, per_class_ntg=v.per_class,
                variance=v.variance, advice=v.advice, source="hub:tiny", architecture="resnet10t",
                data_hash="d" * 64).write(root / "metrics/check.json")
    for arm in ("finetune", "baseline"):
        for s in SEEDS:
            TrainResult(seed=s, val_acc=0.8, best_val_acc=0.8, best_step=6, kept_step=6, steps=6, steps_done=6,
                        stopped_early=False, lr=0.01, strategy="full", regularizer="none", train_images=30,
                        val_images=9, processes=1, init="pretrained",
                        source="hub:tiny").write(root / f"metrics/{arm}/seed-{s}.json")
            curves = root / f"metrics/{arm}/seed-{s}/plots/metrics"
            curves.mkdir(parents=True)
            (curves / "train_loss.tsv").write_text("step\ttrain_loss\n1\t1.0\n3\t0.6\n6\t0.3\n")
            (curves / "val_acc.tsv").write_text("step\tval_acc\n3\t0.5\n6\t0.8\n")
    ExportResult(parity_max_abs_diff=1e-6, top1_agreement=1.0, parity_atol=1e-4, passed=True, test_images=60,
                 onnx_test_acc=0.9, opset=17, onnx_sha256="e" * 64, model_sha256=None,
                 data_hash="d" * 64, int8=INT8).write(root / "metrics/export.json")
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {s: {"cmd": f"graftline {s}"} for s in stages}}))
    return root


SPEC = {"name": "hub:a", "kind": "hub", "ref": "resnet10t", "architecture": "resnet10t", "model_kwargs": {},
        "input_size": None, "mean": None, "std": None}
INIT_STAGES = ["prepare", "validate", "select", "finetune", "baseline", "check", "export", "report"]


def test_page_shows_every_seed_per_class_ntg_and_the_int8_cost(tmp_path: Path):
    root = _project(tmp_path, 0.95, INIT_STAGES)
    run_report(Project(root))
    page = (root / "reports/run.html").read_text()
    chk = CheckResult.read(root / "metrics/check.json")
    assert chk.verdict == "positive"
    for r in chk.per_seed:  # each seed's paired accuracies, NTG and McNemar p, as computed from its predictions
        assert (f"<td>{r.seed}{' (exported)' if r.seed == 3 else ''}</td><td>{r.transfer_acc:.3f}</td>"
                f"<td>{r.scratch_acc:.3f}</td><td>{r.ntg:+.3f}</td><td>{r.mcnemar_p:.2g}</td>") in page
    for c, v in chk.per_class_ntg.items():
        assert re.search(rf"<td>{c}</td><td><span class='[a-z]*'>{v:+.3f}</span>", page), c
    assert "INT8: <span class='warn'>refused</span>" in page and "<td>test accuracy</td><td>0.9000</td>" in page
    assert " ms" not in page and "seconds" not in page  # no timing: the page hashes the same on every re-run
    assert "<span class='verdict ok'>positive</span>" in page
    # an init-like project has no zoo stage: nothing says its zoo is missing (the selection is, as select has not run)
    assert "models/zoo/zoo.json" not in page and "reports/selection.json" in page
    assert sorted(p.name for p in (root / "reports/figures").iterdir()) == ["confusion.png", "curves.png"]
    # the confusion matrix comes from check's saved predictions of the exported seed
    d = collect(root)
    p = CheckPredictions.read(root / "reports/test_predictions.json")
    assert d.confusion.sum() == 60 and np.trace(d.confusion) == sum(
        a == b for a, b in zip(p.labels, p.of(3).transfer))


@pytest.mark.parametrize("transfer_right, verdict, css", [(0.0, "negative", "bad"), (0.5, "inconclusive", "warn")])
def test_the_verdict_is_coloured_by_its_meaning(tmp_path: Path, transfer_right, verdict, css):
    root = _project(tmp_path, transfer_right, INIT_STAGES + ["zoo"])
    run_report(Project(root))
    page = (root / "reports/run.html").read_text()
    assert CheckResult.read(root / "metrics/check.json").verdict == verdict
    assert f"<span class='verdict {css}'>{verdict}</span>" in page
    assert "models/zoo/zoo.json" in page  # this project has a zoo stage: its missing output is named


def test_selection_columns_are_the_estimators_the_report_holds(tmp_path: Path):
    row = {"candidate": "hub:a", "kind": "hub", "architecture": "resnet10t", "feature_dim": 8, "source_classes": 3,
           "preprocessing": {"input_size": [3, 8, 8], "mean": [0.5] * 3, "std": [0.2] * 3}, "weights_sha256": "w",
           "spec": SPEC, "logme": 0.5, "new_estimator": 0.25}
    SelectionReport(estimator="logme", scored_on={"splits": ["train"], "images": 9, "classes": 3}, data_hash="d",
                    ranking=[row], selected="hub:a", selected_spec=SPEC, why="only one",
                    scale={"logme": "log evidence", "new_estimator": "a registry's newcomer"}).write(
        tmp_path / "reports/selection.json")
    run_report(Project(tmp_path))
    page = (tmp_path / "reports/run.html").read_text()
    assert "<th>logme</th><th>new_estimator</th>" in page and "<td>+0.2500</td>" in page
    assert (tmp_path / "reports/plots/selection.csv").read_text() == "candidate,logme,new_estimator\nhub:a,0.5,0.25\n"
