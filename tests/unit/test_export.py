"""Export: a dynamic-batch ONNX file that matches torch, describes itself, optionally preprocesses in the graph and
ships INT8 only when it pays; predict serves it without torch."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graftline.config import DataParams, ExportParams
from graftline.data.prepare import run_prepare
from graftline.export.onnx import export_onnx, run_export
from graftline.project import Project
from graftline.export.quantize import decide_int8
from graftline.models.runtime import metadata, session
from graftline.models import weights
from graftline.models.card import Lineage, ModelCard, Preprocess, load_card
from tests.conftest import cli


def test_export_dynamic_batch_and_parity(tmp_path: Path):
    torch.manual_seed(0)
    model = weights.create("test_resnet", 4, 1).eval()
    export_onnx(model, torch.zeros(2, 1, 32, 32), tmp_path / "m.onnx", opset=18)
    assert not list(tmp_path.glob("*.data"))  # one self-contained file
    sess = session(tmp_path / "m.onnx")
    assert [i.name for i in sess.get_inputs()] == ["input"] and [o.name for o in sess.get_outputs()] == ["logits"]
    for batch in (1, 7, 33):
        x = torch.randn(batch, 1, 32, 32)
        got = sess.run(["logits"], {"input": x.numpy()})[0]
        with torch.inference_mode():
            ref = model(x).numpy()
        assert got.shape == (batch, 4)
        assert np.abs(got - ref).max() < 1e-4


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A prepared RGB folder (3 bar classes, mixed sizes) and a small model trained on it, saved by the contract."""
    from graftline.data.dataset import ArrayData, load_split
    from graftline.train.loop import FitData, fit
    from graftline.train.recipe import Recipe

    root = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    for c in range(3):
        (root / "images" / f"c{c}").mkdir(parents=True)
        for i in range(24):
            w, h = int(rng.integers(24, 48)), int(rng.integers(24, 48))
            a = (rng.random((h, w, 3)) * 60).astype(np.uint8)
            a[:, c * w // 3: (c + 1) * w // 3, c] = 230
            Image.fromarray(a, "RGB").save(root / "images" / f"c{c}" / f"{i}.png")
    meta = run_prepare(DataParams(source="folder", root="images", train_per_class=None, val_per_class=None,
                                  val_fraction=0.2, test_fraction=0.3), root, root / "data/prepared", progress=False)
    train = load_split(root / "data/prepared", root, "train", 3, (32, 32))
    torch.manual_seed(0)
    model = weights.create("test_resnet", 3, 3)
    fit(model, FitData(ArrayData(train.tensors(), train.y), None, [0.3] * 3, [0.3] * 3),
        Recipe(steps=40, batch_size=16, lr=3e-3, eval_every=40, augment=False, device="cpu"))
    weights.save(root / "models/finetuned/seed-0/model", model, ModelCard(
        architecture="test_resnet", num_classes=3, in_chans=3, label_names=train.classes,
        preprocess=Preprocess(input_size=[3, 32, 32], mean=[0.3] * 3, std=[0.3] * 3, color_mode="rgb",
                              max_pixels=meta.max_pixels),
        lineage=Lineage(source="zoo:test", data_hash=meta.data_hash, params_hash="p0")))
    write_check(root, passed=True)  # export ships only what the check gate let through
    return root


def write_check(root: Path, passed: bool) -> None:
    from graftline.results import CheckResult

    CheckResult(verdict="positive" if passed else "negative", ntg=-0.1 if passed else 0.1, ntg_low=-0.2,
                ntg_high=-0.05 if passed else 0.2, confidence=0.9, max_ntg=0.0, passed=passed, seeds=[0],
                exported_seed=0, test_images=10, transfer_acc=0.9, scratch_acc=0.8, per_seed=[], per_class_ntg={},
                variance={}, source="zoo:test", architecture="test_resnet", data_hash="d").write(
        root / "metrics/check.json")


def test_export_refuses_a_model_whose_check_gate_failed(trained: Path, tmp_path: Path):
    import shutil

    from graftline.errors import GateFailed

    root = tmp_path / "p"
    shutil.copytree(trained, root)
    write_check(root, passed=False)
    with pytest.raises(GateFailed, match="check gate did not pass"):
        run_export(ExportParams(int8="off"), Project(root), 0)
    assert not (root / "models/export").exists() and not (root / "metrics/export.json").exists()
    (root / "metrics/check.json").unlink()
    with pytest.raises(GateFailed, match="not found"):
        run_export(ExportParams(int8="off"), Project(root), 0)


def test_parity_beyond_the_tolerance_refuses_and_names_both_bounds(trained: Path, tmp_path: Path):
    import shutil

    from graftline.errors import GateFailed

    root = tmp_path / "p"
    shutil.copytree(trained, root)
    with pytest.raises(GateFailed, match=r"ONNX parity failed.*export\.parity_atol 1e-12, or "
                                         r"export\.parity_float32_factor 0 x torch's own float32 error n/a"):
        run_export(ExportParams(int8="off", parity_atol=1e-12, parity_float32_factor=0), Project(root), 0)
    assert not (root / "models/export").exists()  # nothing published
    r = json.loads((root / "metrics/export.json").read_text())
    assert not r["passed"] and r["parity_allowed"] == 1e-12 and r["parity_max_abs_diff"] > 1e-12


@pytest.mark.parametrize("preprocess", ["float", "in_graph"])
def test_the_onnx_file_describes_itself_and_matches_torch(trained: Path, preprocess: str):
    out = Project(trained).exported
    r = run_export(ExportParams(preprocess=preprocess, int8="off"), Project(trained), 0)
    assert r.passed and r.parity_max_abs_diff <= 1e-4 and r.top1_agreement == 1.0 and r.onnx_test_acc > 0.9
    # the tolerance: parity_atol, or factor x torch's own float32 rounding on this model if larger (vs float64)
    assert r.float32_error is not None and 0 < r.float32_error < 1e-4
    assert r.parity_allowed == max(1e-4, ExportParams().parity_float32_factor * r.float32_error)
    assert r.parity_max_abs_diff <= r.parity_allowed
    sess = session(out / "model.onnx")  # a fresh onnxruntime session reads the metadata back
    card = metadata(sess)
    saved = load_card(trained / "models/finetuned/seed-0/model.json")
    # The ONNX metadata is the saved card, plus only what the export adds; one key per card field, JSON values.
    assert card.model_copy(update={"export": None}) == saved and card.export.preprocess == preprocess
    raw = {k: json.loads(v) for k, v in sess.get_modelmeta().custom_metadata_map.items() if k.startswith("graftline.")}
    assert raw == {f"graftline.{k}": v for k, v in card.model_dump(mode="json").items()}
    assert card.label_names == ["c0", "c1", "c2"] and card.preprocess.color_mode == "rgb"
    assert card.preprocess.max_pixels == saved.preprocess.max_pixels is not None  # the data's bound, for serving
    assert load_card(out / "model.json") == card  # model.json says the same
    assert b".venv" not in (out / "model.onnx").read_bytes()  # no paths of the exporting machine ship
    if preprocess == "in_graph":
        assert [(i.name, i.type) for i in sess.get_inputs()] == [("image", "tensor(uint8)")]
        assert [o.name for o in sess.get_outputs()] == ["logits", "probs"]
        probs = sess.run(["probs"], {"image": np.zeros((2, 32, 32, 3), np.uint8)})[0]
        assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("ms, acc, kept, says", [
    ({"fp32": 3.0, "int8": 2.0}, {"fp32": 0.900, "int8": 0.895}, True, "kept: faster than fp32"),  # -0.5 pt: within 1
    ({"fp32": 1.8, "int8": 2.0}, {"fp32": 0.900, "int8": 0.900}, False, "refused: not faster than fp32"),
    ({"fp32": 3.0, "int8": 2.0}, {"fp32": 0.900, "int8": 0.880}, False, "refused: loses 2.0 points"),
    ({"fp32": 1.8, "int8": 2.0}, {"fp32": 0.900, "int8": 0.880}, False, "refused: not faster than fp32"),
])
def test_int8_is_kept_only_when_faster_and_as_accurate(ms, acc, kept, says):
    got, reason = decide_int8(ms, acc, max_drop=0.01)
    assert got is kept and reason.startswith(says), reason
    assert ("loses" in reason) == (acc["fp32"] - acc["int8"] > 0.01)  # every failed condition is named


@pytest.mark.parametrize("ms, acc, kept, says", [
    ({"fp32": 1.8, "int8": 2.0}, {"fp32": 0.900, "int8": 0.895}, True, "kept: export.int8 is on"),  # slower: kept
    ({"fp32": 3.0, "int8": 2.0}, {"fp32": 0.900, "int8": 0.880}, False, "refused: loses 2.0 points"),
])
def test_int8_on_keeps_an_accurate_model_however_fast_it_is_here(ms, acc, kept, says):
    got, reason = decide_int8(ms, acc, max_drop=0.01, must_be_faster=False)
    assert got is kept and reason.startswith(says), reason
    assert "faster" not in reason  # the clock takes no part in the decision (or its reason)


def test_int8_file_ships_exactly_when_the_decision_keeps_it(trained: Path):
    out = Project(trained).exported
    r = run_export(ExportParams(int8="auto"), Project(trained), 0)
    q = r.int8.model_dump()
    assert set(q) >= {"kept", "reason", "test_acc", "top1_agreement"}
    # decided on what it measured (the latencies: in the timings file, not the metrics), by the rule tested above
    ms = json.loads(Project(trained).timings("export").read_text())["int8"]["ms_batch32"]
    assert (q["kept"], q["reason"]) == decide_int8(ms, q["test_acc"], ExportParams().int8_max_drop)
    assert (out / "model.int8.onnx").is_file() == q["kept"]
    if q["kept"]:
        assert metadata(session(out / "model.int8.onnx")).label_names == ["c0", "c1", "c2"]


PREDICT_WITHOUT_TORCH = """
import json, sys
sys.modules["torch"] = None  # any `import torch` now fails: predict must not need it
from graftline.cli import main
sys.argv = ["graftline", "predict", *sys.argv[1:]]
try:
    main()
finally:
    print("TORCH_LOADED" if sys.modules.get("torch") is not None else "NO_TORCH", file=sys.stderr)
"""


def test_predict_serves_files_folders_and_csv_without_torch(trained: Path):
    run_export(ExportParams(int8="off"), Project(trained), 0)
    (trained / "list.csv").write_text("path\nimages/c1/0.png\nimages/c2/0.png\n")
    args = ["--model", str(trained / "models/export"), "--format", "json", "--top-k", "2",
            str(trained / "images/c0"), str(trained / "list.csv")]
    r = subprocess.run([sys.executable, "-c", PREDICT_WITHOUT_TORCH, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "NO_TORCH" in r.stderr
    out = json.loads(r.stdout)
    assert len(out) == 24 + 2 and all(len(x["predictions"]) == 2 for x in out)
    by_class = {Path(x["image"]).parent.name: x["predictions"][0]["label"] for x in out[-2:]}
    assert by_class == {"c1": "c1", "c2": "c2"}
    assert sum(x["predictions"][0]["label"] == "c0" for x in out[:24]) >= 22


def test_predict_refuses_an_onnx_file_changed_after_export_or_not_onnx(trained: Path, tmp_path: Path):
    """A tampered file would predict confidently wrong classes (it loads: only its weights changed); export's
    SHA256SUMS beside it catches that. A file onnxruntime cannot load is one paragraph, exit 2, no traceback."""
    import shutil

    run_export(ExportParams(int8="off"), Project(trained), 0)
    exported = tmp_path / "export"
    shutil.copytree(Project(trained).exported, exported)
    sums = (exported / "SHA256SUMS").read_text()
    assert sums.endswith("  model.onnx\n") and hashlib.sha256((exported / "model.onnx").read_bytes()).hexdigest() in sums
    image = str(trained / "images/c1/0.png")
    assert cli("predict", "--model", str(exported), image, cwd=tmp_path).returncode == 0
    data = bytearray((exported / "model.onnx").read_bytes())
    for i in range(len(data) - 4096, len(data) - 4032):  # inside the weights: the graph still loads
        data[i] ^= 0xFF
    (exported / "model.onnx").write_bytes(bytes(data))
    r = cli("predict", "--model", str(exported), image, cwd=tmp_path)
    assert r.returncode == 2 and "changed after export" in r.stderr and "SHA256SUMS" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    alone = tmp_path / "alone.onnx"  # not ONNX at all, and no SHA256SUMS beside it
    alone.write_bytes(b"\x08\x07 not a protobuf" * 10)
    r = cli("predict", "--model", str(alone), image, cwd=tmp_path)
    assert r.returncode == 2 and "not a loadable ONNX model" in r.stderr and str(alone) in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
