"""`dvc repro` in adapt mode (adapt.method: dann) on the session's tiny project: the adapted and source-only arms
replace the supervised ones, check compares them, export ships a parity-checked ONNX model of the adapted one."""

import json
import re

import numpy as np
import pytest
import yaml

from tests.conftest import cli, dvc
from tests.integration.conftest import copy_of

pytestmark = pytest.mark.slow


def _accuracy_on_test_split(p, model_dir: str) -> float:
    """One saved model's accuracy on the project's test split, loaded here (not by check)."""
    from graftline.data.dataset import load_split
    from graftline.eval.logits import predict_logits
    from graftline.models import weights

    model, card = weights.load(p / model_dir / "model")
    pre = card.preprocess
    test = load_split(p / "data/prepared", p, "test", card.in_chans, pre.size, pre)
    return float((predict_logits(model, test.data, pre.mean, pre.std).argmax(1) == test.y).float().mean())


def test_dvc_repro_with_dann_ends_in_a_parity_checked_onnx_model(tiny_git_repo, tmp_path):
    p = copy_of(tiny_git_repo, tmp_path / "proj")
    params = yaml.safe_load((p / "params.yaml").read_text())
    params["adapt"].update(method="dann", steps=6, batch_size=16, candidate="zoo:test_convnext.digits")
    (p / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    r = dvc("repro", cwd=p)
    assert r.returncode == 0, r.stdout + r.stderr
    ran = set(re.findall(r"Running stage '([^']+)'", r.stdout))
    assert {"finetune@0", "baseline@0", "check", "export"} <= ran and not {"prepare", "zoo", "select"} & ran

    seeds = params["check"]["seeds"]
    adapt = json.loads((p / "metrics/adapt.json").read_text())
    assert adapt["method"] == "dann" and adapt["seeds"] == seeds and adapt["test_images"] > 0
    # The accuracies from the adapted and source-only models loaded here, run on the test split, mean over seeds.
    acc = {arm: np.mean([_accuracy_on_test_split(p, f"models/{arm}/seed-{s}") for s in seeds])
           for arm in ("finetuned", "baseline")}
    assert adapt["target_acc"] == pytest.approx(acc["finetuned"])
    assert adapt["source_only_acc"] == pytest.approx(acc["baseline"])
    assert adapt["gain"] == pytest.approx(acc["finetuned"] - acc["baseline"])
    for s in seeds:
        arm = json.loads((p / f"metrics/finetune/seed-{s}.json").read_text())
        base = json.loads((p / f"metrics/baseline/seed-{s}.json").read_text())
        assert arm["adapt"]["method"] == "dann" and base["adapt"]["method"] == "source_only"
        assert arm["adapt"]["target_images"] == 80  # the tiny target's train+val images, labels ignored
    meta = json.loads((p / "models/finetuned/seed-0/model.json").read_text())
    assert meta["lineage"]["init"] == "adapted" and meta["lineage"]["source"] == "zoo:test_convnext.digits"
    assert meta["label_names"] == json.loads((p / "data/prepared/classes.json").read_text())

    export = json.loads((p / "metrics/export.json").read_text())
    assert export["passed"] and export["parity_max_abs_diff"] <= export["parity_atol"]
    assert (p / "models/export/model.onnx").is_file()
    assert "up to date" in dvc("status", cwd=p).stdout
    out = cli("summary", cwd=p, check=True).stdout
    assert "Adapted (dann) vs source-only" in out and adapt["verdict"] in out
