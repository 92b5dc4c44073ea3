"""The typed results are typed all the way down: a nested row with an unknown (or misspelt) key is refused where the
file is read, with the file's name, and the selection report keeps its on-disk columns while reading as typed
scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from graftline.errors import GraftlineError
from graftline.results import CheckResult, ExportResult, SelectionReport, TrainResult

SEED = {"seed": 0, "transfer_acc": 0.9, "scratch_acc": 0.8, "ntg": -0.1, "mcnemar_p": 0.01,
        "transfer_only_right": 12, "scratch_only_right": 2}
CHECK = {"verdict": "positive", "ntg": -0.1, "ntg_low": -0.15, "ntg_high": -0.05, "confidence": 0.95, "max_ntg": 0.0,
         "passed": True, "seeds": [0], "exported_seed": 0, "test_images": 100, "transfer_acc": 0.9,
         "scratch_acc": 0.8, "per_seed": [SEED], "per_class_ntg": {"a": -0.1}, "variance": {"seeds": 0.0},
         "source": "hub:x", "architecture": "resnet10t", "data_hash": "d"}
SPEC = {"name": "zoo:a", "kind": "zoo", "ref": "models/zoo/a", "architecture": None, "model_kwargs": {},
        "input_size": None, "mean": None, "std": None}
CANDIDATE = {"candidate": "zoo:a", "kind": "zoo", "architecture": "test_resnet", "feature_dim": 8,
             "source_classes": 10, "preprocessing": {"input_size": [1, 32, 32], "mean": [0.5], "std": [0.25]},
             "weights_sha256": "w", "spec": SPEC, "logme": 0.7, "leep": -1.2, "knn": 0.8}
SELECTION = {"estimator": "logme", "scored_on": {"splits": ["train", "val"], "images": 30, "views": 1, "classes": 3},
             "data_hash": "d", "ranking": [CANDIDATE], "selected": "zoo:a", "selected_spec": SPEC,
             "why": "highest logme", "skipped": [], "scale": {"logme": "...", "leep": "...", "knn": "..."}}


def test_a_check_file_reads_back_with_typed_seed_rows(tmp_path: Path):
    path = tmp_path / "check.json"
    path.write_text(json.dumps(CHECK))
    r = CheckResult.read(path)
    assert r.per_seed[0].mcnemar_p == 0.01 and r.per_seed[0].transfer_only_right == 12
    r.write(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == {**CHECK, "advice": "", "forgetting": None,
                                                                  "max_forgetting": None, "pairs_used": None,
                                                                  "min_seeds": None, "max_seeds": None,
                                                                  "stop_reason": "", "family_confidence": None,
                                                                  "lr": {}, "lr_search": ""}


@pytest.mark.parametrize("result, doc, where", [
    (CheckResult, {**CHECK, "per_seed": [{**SEED, "mcnemar": 0.01}]}, "per_seed.0.mcnemar"),
    (SelectionReport, {**SELECTION, "ranking": [{**CANDIDATE, "weights_sha": "w"}]}, "ranking.0.weights_sha"),
    (SelectionReport, {**SELECTION, "scored_on": {**SELECTION["scored_on"], "image": 30}}, "scored_on.image"),
    (SelectionReport, {**SELECTION, "selected_spec": {**SPEC, "kwargs": {}}}, "selected_spec.kwargs"),
])
def test_a_nested_row_with_an_unknown_key_is_refused_naming_the_file_and_the_key(tmp_path: Path, result, doc,
                                                                                  where):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GraftlineError, match=rf"{path}.*{where}: Extra inputs are not permitted"):
        result.read(path)


def test_writers_cannot_put_an_unknown_key_in_a_row_either():
    train = dict(val_acc=0.5, best_val_acc=0.5, best_step=1, kept_step=1, steps=1, steps_done=1, stopped_early=False,
                 lr=0.1, strategy="full", regularizer="none", train_images=1, val_images=1,
                 processes=1, init="pretrained", source="zoo:a")
    with pytest.raises(ValidationError, match="forgetting.forgot"):
        TrainResult(**train, forgetting={"source_eval": "s", "source_eval_images": 1, "source_acc_before": 0.9,
                                         "source_acc_after": 0.8, "forgetting": 0.1, "forgot": 0.1})
    with pytest.raises(ValidationError, match="int8.latency_ms"):
        ExportResult(parity_max_abs_diff=0.0, top1_agreement=1.0, parity_atol=1e-4, passed=True, test_images=1,
                     onnx_test_acc=1.0, opset=17, onnx_sha256="o", model_sha256=None,
                     data_hash="d", int8={"kept": True, "reason": "kept",
                                          "test_acc": {}, "top1_agreement": 1.0, "threads": 1,
                                          "latency_ms": 2.0})


def test_selection_scores_are_columns_on_disk_and_a_mapping_in_python(tmp_path: Path):
    path = tmp_path / "selection.json"
    SelectionReport.model_validate(SELECTION).write(path)
    assert json.loads(path.read_text())["ranking"] == [CANDIDATE]  # the file format other tools read is unchanged
    sel = SelectionReport.read(path)
    assert sel.ranking[0].scores == {"logme": 0.7, "leep": -1.2, "knn": 0.8}
    assert sel.estimators == ["logme", "leep", "knn"] and sel.pick().candidate == "zoo:a"
