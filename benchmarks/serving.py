"""Serving latency: torch eager vs onnxruntime fp32 vs onnxruntime INT8 (and in-graph preprocessing), and the
start-up of `graftline predict` with and without torch importable.

For every zoo architecture family (resnet10t, mobilenetv3_small_050, test_convnext at 32x32, 1 channel) and the
selected candidate: export with the export stage's own code (float input, and in-graph uint8 input), quantise with
its INT8 code (calibrated on random inputs: latency does not depend on the weights' values), then time batch 1 and
batch 32, each runtime interleaved with the others (median of repeats, same thread count for torch and onnxruntime).
Start-up: wall time of `graftline predict` on one image, with torch importable and with `import torch` made to fail.

Usage: python benchmarks/serving.py [--threads 1] [--repeats 30]. Writes benchmarks/results/serving.json; prints
the ORT/torch ratio at batch 1 last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.export.metadata import describe, finish  # noqa: E402
from graftline.models.card import Lineage, ModelCard, Preprocess  # noqa: E402
from graftline.export.onnx import InGraph, export_onnx  # noqa: E402
from graftline.export.quantize import quantize  # noqa: E402
from graftline.models.runtime import session  # noqa: E402
from graftline.models import weights  # noqa: E402

FAMILIES = ["resnet10t", "mobilenetv3_small_050", "test_convnext"]


def timed(fn, repeats: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def bench_arch(arch: str, threads: int, repeats: int, tmp: Path) -> dict:
    torch.manual_seed(0)
    model = weights.create(arch, 10, 1).eval()
    meta = ModelCard(architecture=arch, num_classes=10, in_chans=1, label_names=[str(i) for i in range(10)],
                     preprocess=Preprocess(input_size=[1, 32, 32], mean=[0.2], std=[0.3]),
                     lineage=Lineage(source="scratch"))
    f32, i8, ing = tmp / f"{arch}.onnx", tmp / f"{arch}.int8.onnx", tmp / f"{arch}.ingraph.onnx"
    export_onnx(model, torch.zeros(2, 1, 32, 32), f32, 18)
    finish(f32, describe(meta, "float"))
    export_onnx(InGraph(model, [0.2], [0.3]).eval(), torch.zeros(2, 32, 32, 1, dtype=torch.uint8), ing, 18, "image",
                ("logits", "probs"))
    quantize(f32, i8, np.random.default_rng(0).standard_normal((64, 1, 32, 32)).astype(np.float32), "input")
    sessions = {"ort_fp32": session(f32, threads), "ort_int8": session(i8, threads), "ort_in_graph": session(ing, threads)}
    out = {}
    for batch in (1, 32):
        x = np.random.default_rng(1).standard_normal((batch, 1, 32, 32)).astype(np.float32)
        u8 = np.random.default_rng(1).integers(0, 256, (batch, 32, 32, 1), dtype=np.uint8)
        xt = torch.from_numpy(x)
        runs = {"torch_eager": lambda: model(xt), "ort_fp32": lambda: sessions["ort_fp32"].run(None, {"input": x}),
                "ort_int8": lambda: sessions["ort_int8"].run(None, {"input": x}),
                "ort_in_graph": lambda: sessions["ort_in_graph"].run(None, {"image": u8})}
        times: dict[str, list[float]] = {k: [] for k in runs}
        with torch.inference_mode():
            for _ in range(3):  # interleave blocks of repeats: background load hits every runtime alike
                for k, fn in runs.items():
                    times[k] += timed(fn, repeats // 3)
        med = {k: statistics.median(v) for k, v in times.items()}
        out[f"batch{batch}"] = {"ms": med, "ort_fp32_vs_torch": med["torch_eager"] / med["ort_fp32"],
                                "int8_vs_ort_fp32": med["ort_fp32"] / med["ort_int8"],
                                "in_graph_vs_ort_fp32": med["ort_fp32"] / med["ort_in_graph"]}
        print(f"{arch:<22} batch {batch:>2}: torch {med['torch_eager']:7.3f} ms  ORT fp32 {med['ort_fp32']:7.3f}  "
              f"INT8 {med['ort_int8']:7.3f}  in-graph {med['ort_in_graph']:7.3f}  | ORT/torch "
              f"{out[f'batch{batch}']['ort_fp32_vs_torch']:.1f}x, INT8/fp32 {out[f'batch{batch}']['int8_vs_ort_fp32']:.2f}x",
              flush=True)
    return out


def startup(model: Path, repeats: int = 3) -> dict:
    """Wall time of `graftline predict` on one image, torch importable or not."""
    img = next((ROOT / "data/demo/digits/0").glob("*.png"), None)
    if not model.is_file() or img is None:
        return {"skipped": f"needs {model} (run the pipeline) and data/demo"}
    code = ("import sys\n{block}\nfrom graftline.cli import main\nsys.argv = ['graftline', 'predict', '--model', "
            f"{str(model)!r}, {str(img)!r}]\nmain()\n")
    out = {}
    for name, block in (("torch_importable", ""), ("torch_blocked", "sys.modules['torch'] = None")):
        secs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code.format(block=block)], check=True, capture_output=True)
            secs.append(time.perf_counter() - t0)
        out[name] = statistics.median(secs)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    out["import_torch_alone"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--model", type=Path, default=ROOT / "models/export/model.onnx", help="for the start-up timing")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sel = ROOT / "reports/selection.json"
    selected = json.loads(sel.read_text())["ranking"][0]["architecture"] if sel.is_file() else "resnet10t"
    archs = list(dict.fromkeys([selected, *FAMILIES]))
    with tempfile.TemporaryDirectory() as tmp:
        results = {arch: bench_arch(arch, a.threads, a.repeats, Path(tmp)) for arch in archs}
    start = startup(a.model)
    print(f"predict start-up (one image): {start}")
    out = {"threads": a.threads, "selected_architecture": selected, "latency": results, "predict_startup_s": start,
           "load_average": os.getloadavg()}
    (ROOT / "benchmarks/results/serving.json").write_text(json.dumps(out, indent=2) + "\n")
    b1 = results[selected]["batch1"]["ort_fp32_vs_torch"]
    print(f"INT8 vs ORT fp32 at batch 32 ({selected}): {results[selected]['batch32']['int8_vs_ort_fp32']:.2f}x")
    print(f"ORT fp32 vs torch eager at batch 1 ({selected}): {b1:.1f}x")


if __name__ == "__main__":
    main()
