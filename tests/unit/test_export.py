"""ONNX export keeps a dynamic batch and matches torch in onnxruntime."""

from pathlib import Path

import numpy as np
import torch

from graftline.export.onnx import export_onnx, session, strip_debug_metadata
from graftline.models import weights


def test_export_dynamic_batch_and_parity(tmp_path: Path):
    torch.manual_seed(0)
    model = weights.create("test_resnet", 4, 1).eval()
    export_onnx(model, [1, 32, 32], tmp_path / "m.onnx", opset=18)
    strip_debug_metadata(tmp_path / "m.onnx")
    assert b".venv" not in (tmp_path / "m.onnx").read_bytes()  # no paths of the exporting machine ship
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
