"""INT8 when it pays: static QDQ quantisation, kept only when it is faster and as accurate.

After ``quant_pre_process`` (shape inference + graph optimisation), ``quantize_static`` with QDQ nodes, per-channel
weights (QInt8) and activations (QUInt8), calibrated (MinMax) on training images. Measured on this CPU (FACTS):
U8S8 QDQ is ~1.8x faster than fp32 at batch 32 on resnet10t; ``quantize_dynamic`` makes CNNs 5-25x slower, S8S8
activations and depthwise nets can be slower than fp32. So the result is kept only when, here, at batch 32, it is
faster than the fp32 model and loses at most ``max_drop`` of test accuracy; otherwise it is refused and the measured
reason is reported.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from graftline.models.runtime import session

log = logging.getLogger(__name__)


def quantize(fp32: Path, out: Path, calibration: np.ndarray, input_name: str, batch_size: int = 32) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([calibration[i: i + batch_size] for i in range(0, len(calibration), batch_size)])

        def get_next(self):
            b = next(self.batches, None)
            return None if b is None else {input_name: b}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def latency_ms(paths: dict[str, Path], x: np.ndarray, threads: int = 2, repeats: int = 15) -> dict[str, float]:
    """Median ms per call of each model on ``x``, runs interleaved (a noisy machine hits every model alike)."""
    sessions = {k: session(p, threads) for k, p in paths.items()}
    inp = {k: s.get_inputs()[0].name for k, s in sessions.items()}
    for k, s in sessions.items():  # warm-up
        s.run(None, {inp[k]: x})
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(repeats):
        for k, s in sessions.items():
            t0 = time.perf_counter()
            s.run(None, {inp[k]: x})
            times[k].append(1000 * (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in times.items()}


def decide_int8(ms: dict[str, float], acc: dict[str, float], max_drop: float = 0.01,
                must_be_faster: bool = True) -> tuple[bool, str]:
    """Keep the INT8 model only if it loses at most ``max_drop`` of test accuracy (``acc``) and, unless
    ``must_be_faster`` is off (``export.int8: on``), is faster than fp32 (``ms``: per batch of 32). The reason names
    the conditions and the accuracies, not the latencies: it is written to metrics/export.json, which must hash the
    same when only the clock changed (they go to the timings file)."""
    speedup = ms["fp32"] / ms["int8"]
    drop = acc["fp32"] - acc["int8"]
    faster = speedup > 1.0 or not must_be_faster
    if faster and drop <= max_drop:
        why = "faster than fp32 at batch 32" if must_be_faster else "export.int8 is on (speed not required)"
        return True, f"kept: {why}, test accuracy {acc['int8']:.4f} vs {acc['fp32']:.4f}"
    why = ["not faster than fp32 at batch 32"] * (not faster)
    why += [f"loses {100 * drop:.1f} points of test accuracy (> {100 * max_drop:.0f})"] * (drop > max_drop)
    return False, "refused: " + "; ".join(why)


def int8_if_it_pays(fp32: Path, out: Path, calibration: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                    max_drop: float = 0.01, threads: int = 2, must_be_faster: bool = True) -> dict:
    """Quantise, measure, decide (``decide_int8``). Returns the figures and ``kept``; ``out`` exists only when
    kept."""
    name = session(fp32).get_inputs()[0].name
    quantize(fp32, out, calibration, name)
    batch = test_x[:32] if len(test_x) >= 32 else np.concatenate([test_x] * (32 // max(1, len(test_x)) + 1))[:32]
    ms = latency_ms({"fp32": fp32, "int8": out}, batch, threads)
    preds = {}
    for k, p in (("fp32", fp32), ("int8", out)):
        s = session(p, threads)
        preds[k] = np.concatenate([s.run(None, {name: test_x[i: i + 256]})[0].argmax(1)
                                   for i in range(0, len(test_x), 256)])
    acc = {k: float((v == test_y).mean()) for k, v in preds.items()}
    speedup = ms["fp32"] / ms["int8"]
    kept, reason = decide_int8(ms, acc, max_drop, must_be_faster)
    if not kept:
        out.unlink(missing_ok=True)
    log.info("export: INT8 %s (%.2fx: %.2f vs %.2f ms at batch 32)", reason, speedup, ms["int8"], ms["fp32"])
    return {"kept": kept, "reason": reason, "speedup_batch32": speedup, "ms_batch32": ms,
            "test_acc": acc, "top1_agreement": float((preds["fp32"] == preds["int8"]).mean()), "threads": threads}
