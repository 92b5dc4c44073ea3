"""The export stage: the fine-tuned model -> ``models/export/model.onnx``, self-describing, checked in onnxruntime.

The model is rebuilt from ``model.json`` + ``model.safetensors`` (the saved-model contract), not taken from memory,
so the parity check also proves that the contract reproduces the trained model. Export uses torch's dynamo exporter
with a dynamic batch axis and a single file (``external_data=False``). ``export.preprocess``:

- ``float`` (default): input ``input`` float32 [N, C, H, W], normalised; output ``logits``;
- ``in_graph``: input ``image`` uint8 [N, H, W, C] at the model's size; scaling, normalisation and the layout change
  happen inside the graph; outputs ``logits`` and ``probs``.

Parity compares onnxruntime with torch on the whole test split (max |logit difference| within
``export.parity_atol``, or ``export.parity_float32_factor`` times the model's own float32 rounding error, whichever is
larger: ``float32_error``; top-1 agreement of at least ``export.min_top1_agreement``). The file carries its own
preprocessing, classes and lineage (``export/metadata.py``). With ``export.int8: auto`` (or ``on``) a static INT8
model is made and shipped as ``model.int8.onnx`` only when it pays (``export/quantize.py``).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from graftline.config import ExportParams
from graftline.data.dataset import load_split
from graftline.errors import GateFailed
from graftline.eval.logits import batches
from graftline.export.metadata import describe, finish
from graftline.export.quantize import int8_if_it_pays
from graftline.models.runtime import session, to_layout, write_sums
from graftline.models import weights
from graftline.models.card import ModelCard, write_card
from graftline.project import Project, record_timings
from graftline.atomic import atomic_dir
from graftline.results import CheckResult, ExportResult

log = logging.getLogger(__name__)


class InGraph(torch.nn.Module):
    """uint8 NHWC images -> (logits, probabilities): the preprocessing inside the exported graph."""

    def __init__(self, model: torch.nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1) * 255.0)

    def forward(self, image: torch.Tensor):
        x = (image.permute(0, 3, 1, 2).to(torch.float32) - self.mean) / self.std
        logits = self.model(x)
        return logits, torch.softmax(logits, dim=1)


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int, input_name: str = "input",
                output_names: tuple[str, ...] = ("logits",)) -> None:
    """Export with a dynamic batch axis (the first dimension of ``example``)."""
    from torch.export import Dim

    model.eval()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False, opset_version=opset,
                          input_names=[input_name], output_names=list(output_names),
                          dynamic_shapes=({0: Dim("batch", min=1, max=65536)},), verbose=False)


def _inputs(split, card: ModelCard) -> np.ndarray:
    """A split in the graph's input layout (uint8 NHWC for in-graph preprocessing, else normalised floats)."""
    xs = [to_layout(x.numpy(), card) for x in batches(split.data)]
    c, h, w = card.preprocess.input_size
    empty = np.zeros((0, h, w, c), np.uint8) if card.export.preprocess == "in_graph" else np.zeros((0, c, h, w), np.float32)
    return np.concatenate(xs) if xs else empty


def _logits(module: torch.nn.Module, x: np.ndarray, in_graph: bool) -> np.ndarray:
    with torch.inference_mode():
        out = [module(torch.from_numpy(x[i: i + 256])) for i in range(0, len(x), 256)]
    return np.concatenate([(o[0] if in_graph else o).numpy() for o in out]) if out else np.zeros((0, 0), np.float32)


def float32_error(module: torch.nn.Module, x: np.ndarray, in_graph: bool, n: int = 32) -> float | None:
    """max |float32 - float64 logits| of the torch model itself on the first ``n`` inputs: the rounding that any
    float32 runtime, torch's own included, cannot avoid on this network (it grows with depth, not with the logits'
    size). None when the model cannot run in float64."""
    if not len(x):
        return 0.0
    xs = x[:n]
    t = torch.from_numpy(xs)
    inner = module.model if in_graph else module
    if in_graph:
        t = (t.permute(0, 3, 1, 2).double() - module.mean.double()) / module.std.double()
    try:
        with torch.inference_mode():
            out64 = copy.deepcopy(inner).double().eval()(t.double()).numpy()
    except (RuntimeError, TypeError) as exc:  # a layer that insists on float32
        logging.getLogger(__name__).warning("export: no float64 forward for the float32 error (%s)", exc)
        return None
    return float(np.abs(_logits(module, xs, in_graph).astype(np.float64) - out64).max())


def _require_passed_check(path: Path) -> None:
    if not path.is_file():
        raise GateFailed(f"{path}: not found. export ships only a model the check stage accepted; run "
                         "`graftline check` (or `dvc repro export`, which runs it first).")
    chk = CheckResult.read(path)
    if not chk.passed:
        raise GateFailed(f"{path}: the check gate did not pass (verdict {chk.verdict}, NTG {chk.ntg:+.3f}, "
                         f"interval [{chk.ntg_low:+.3f}, {chk.ntg_high:+.3f}]), so the model is not exported. "
                         "Fix the cause the check names (more steps, another strategy or candidate), re-run check, "
                         "then export.")


def run_export(p: ExportParams, proj: Project, seed: int) -> ExportResult:
    """Export, then check parity against the torch model on the test split; raise GateFailed if it fails.

    Only a model the check stage let through is shipped: metrics/check.json must exist and say the gate passed."""
    prepared, project_root, finetuned, out, metrics_path = (proj.prepared, proj.root, proj.arm("finetune", seed),
                                                            proj.exported, proj.export_json)
    _require_passed_check(proj.check_json)
    model, saved = weights.load(finetuned / "model")
    card = describe(saved, p.preprocess)
    in_graph = p.preprocess == "in_graph"
    module = InGraph(model, card.preprocess.mean, card.preprocess.std).eval() if in_graph else model
    test = load_split(prepared, project_root, "test", card.in_chans, card.preprocess.size, card.preprocess)
    y = test.y.numpy()
    x = _inputs(test, card)
    c, h, w = card.preprocess.input_size
    example = torch.zeros(2, h, w, c, dtype=torch.uint8) if in_graph else torch.zeros(2, c, h, w)
    name = card.export.input_name
    with atomic_dir(out) as tmp:
        t0 = time.perf_counter()
        export_onnx(module, example, tmp / "model.onnx", p.opset, name, tuple(card.export.outputs))
        finish(tmp / "model.onnx", card)
        export_s = time.perf_counter() - t0
        ref = _logits(module, x, in_graph)
        sess = session(tmp / "model.onnx")
        got = np.concatenate([sess.run(["logits"], {name: x[i: i + 256]})[0] for i in range(0, len(x), 256)]) \
            if len(x) else ref
        diff = float(np.abs(ref - got).max()) if len(ref) else 0.0
        agree = float((ref.argmax(1) == got.argmax(1)).mean()) if len(ref) else 1.0
        onnx_acc = float((got.argmax(1) == y).mean()) if len(ref) else float("nan")
        noise = float32_error(module, x, in_graph) if p.parity_float32_factor else None
        allowed = max(p.parity_atol, p.parity_float32_factor * noise) if noise is not None else p.parity_atol
        int8, int8_latency = None, None
        if p.int8 != "off" and len(x):
            train = load_split(prepared, project_root, "train", card.in_chans, card.preprocess.size,
                               card.preprocess)
            int8 = int8_if_it_pays(tmp / "model.onnx", tmp / "model.int8.onnx", _inputs(train, card), x, y,
                                   p.int8_max_drop, p.threads, must_be_faster=p.int8 == "auto")
            int8_latency = {k: int8.pop(k) for k in ("speedup_batch32", "ms_batch32")}  # timings, not metrics
            if int8["kept"]:
                quantized = card.export.model_copy(update={"quantized": "int8 static QDQ, U8S8, per-channel"})
                finish(tmp / "model.int8.onnx", card.model_copy(update={"export": quantized}))
        digest = hashlib.sha256((tmp / "model.onnx").read_bytes()).hexdigest()
        write_card(tmp / "model.json", card)  # the ONNX file's own card (its hash is in metrics/export.json)
        write_sums(tmp)  # SHA256SUMS of model.onnx (and model.int8.onnx): predict refuses a file changed since
        result = ExportResult(
            parity_max_abs_diff=diff, top1_agreement=agree, parity_atol=p.parity_atol, float32_error=noise,
            parity_allowed=allowed, passed=diff <= allowed and agree >= p.min_top1_agreement, test_images=len(y),
            onnx_test_acc=onnx_acc, opset=p.opset, onnx_sha256=digest,
            model_sha256=card.weights_sha256, data_hash=card.lineage.data_hash, preprocess=p.preprocess,
            int8=int8)
        result.write(metrics_path)
        record_timings(proj, "export", {"export_seconds": round(export_s, 2), "int8": int8_latency})
        if not result.passed:
            raise GateFailed(
                f"ONNX parity failed for {tmp.parent / 'model.onnx'}: max |logit difference| {diff:.2e} "
                f"(allowed {allowed:.1e}: export.parity_atol {p.parity_atol:.0e}, or "
                f"export.parity_float32_factor {p.parity_float32_factor:g} x torch's own float32 error "
                f"{'n/a' if noise is None else f'{noise:.1e}'}), top-1 agreement {agree:.4f} (required "
                f"{p.min_top1_agreement}). "
                f"See {metrics_path}. The exported file was not published; try another export.opset."
            )
    return result
