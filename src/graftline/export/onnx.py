"""The export stage: the fine-tuned model -> ``models/export/model.onnx``, checked in onnxruntime.

The model is rebuilt from ``model.json`` + ``model.safetensors`` (the saved-model contract), not taken from memory,
so the parity check also proves that the contract reproduces the trained model. Export uses torch's dynamo exporter
with a dynamic batch axis and a single file (``external_data=False``); parity compares logits on the whole test
split: max |difference| within ``export.parity_atol`` and top-1 agreement of at least ``export.min_top1_agreement``.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from graftline.config import ExportParams
from graftline.data.dataset import load_split
from graftline.errors import GateFailed
from graftline.eval.logits import batches, predict_logits, prep
from graftline.models import weights
from graftline.project import atomic_dir
from graftline.results import ExportResult


def export_onnx(model: torch.nn.Module, input_size: list[int], path: Path, opset: int) -> None:
    """Export with a dynamic batch axis: input ``input`` [batch, C, H, W] (normalised), output ``logits``."""
    import logging
    import warnings

    from torch.export import Dim

    model.eval()
    example = torch.zeros(2, *input_size)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: Dim("batch", min=1, max=65536)},), verbose=False)


def strip_debug_metadata(path: Path) -> None:
    """Drop the exporter's per-node debug metadata (``pkg.torch.onnx.stack_trace`` and friends).

    They hold absolute paths of the exporting machine (``/home/<user>/.venv/...``): a leak in a shipped model and the
    reason the same weights exported from two checkouts gave two different files. Inference never reads them.
    """
    import onnx

    model = onnx.load(str(path))
    graphs = [model.graph] + [f for f in model.functions]
    for g in graphs:
        for node in g.node:
            del node.metadata_props[:]
    onnx.save(model, str(path))


def session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_export(p: ExportParams, prepared: Path, project_root: Path, finetuned: Path, out: Path,
               metrics_path: Path) -> ExportResult:
    """Export, then check parity against the torch model on the test split; raise GateFailed if it fails."""
    model, meta = weights.load(finetuned / "model")
    test = load_split(prepared, project_root, "test", meta["in_chans"], meta["input_size"][1:])
    y = test.y
    with atomic_dir(out) as tmp:
        t0 = time.perf_counter()
        export_onnx(model, meta["input_size"], tmp / "model.onnx", p.opset)
        strip_debug_metadata(tmp / "model.onnx")
        export_s = time.perf_counter() - t0
        ref = predict_logits(model, test.data, meta["mean"], meta["std"]).numpy()
        sess = session(tmp / "model.onnx")
        got = np.concatenate([sess.run(["logits"], {"input": prep(x, meta["mean"], meta["std"]).numpy()})[0]
                              for x in batches(test.data)] or [np.zeros((0, meta["num_classes"]), np.float32)])
        diff = float(np.abs(ref - got).max()) if len(ref) else 0.0
        agree = float((ref.argmax(1) == got.argmax(1)).mean()) if len(ref) else 1.0
        onnx_acc = float((got.argmax(1) == y.numpy()).mean()) if len(ref) else float("nan")
        digest = hashlib.sha256((tmp / "model.onnx").read_bytes()).hexdigest()
        shutil.copyfile(finetuned / "model.json", tmp / "model.json")  # preprocessing + classes travel with it
        result = ExportResult(
            parity_max_abs_diff=diff, top1_agreement=agree, parity_atol=p.parity_atol,
            passed=diff <= p.parity_atol and agree >= p.min_top1_agreement, test_images=len(y),
            onnx_test_acc=onnx_acc, export_seconds=round(export_s, 2), opset=p.opset, onnx_sha256=digest,
            model_sha256=meta.get("weights_sha256"), data_hash=meta["data_hash"])
        result.write(metrics_path)
        if not result.passed:
            raise GateFailed(
                f"ONNX parity failed for {tmp.parent / 'model.onnx'}: max |logit difference| {diff:.2e} "
                f"(allowed {p.parity_atol:.0e}), top-1 agreement {agree:.4f} (required {p.min_top1_agreement}). "
                f"See {metrics_path}. The exported file was not published; try another export.opset."
            )
    return result
