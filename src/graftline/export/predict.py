"""Predict with the exported model: image files -> class and probability, via onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from graftline.data.images import decode, normalize, to_input
from graftline.errors import DataError, ModelError


def predict(model_dir: Path, images: list[Path], top_k: int = 1) -> list[dict]:
    from graftline.export.onnx import session

    onnx_path, meta_path = model_dir / "model.onnx", model_dir / "model.json"
    if not onnx_path.is_file() or not meta_path.is_file():
        raise ModelError(f"{model_dir}: expected model.onnx and model.json; run `graftline export` (or `dvc repro`).")
    meta = json.loads(meta_path.read_text())
    arrays = []
    for img in images:
        try:
            arrays.append(decode(img, meta["in_chans"]))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{img}: cannot decode image ({type(exc).__name__}: {exc}).") from None
    x = normalize(to_input(arrays, tuple(meta["input_size"][1:])), meta["mean"], meta["std"]).numpy()
    logits = session(onnx_path).run(["logits"], {"input": x})[0]
    z = logits - logits.max(1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    out = []
    for path, p in zip(images, probs):
        order = np.argsort(-p)[:top_k]
        out.append({"image": str(path), "predictions": [{"label": meta["classes"][i], "prob": float(p[i])} for i in order]})
    return out
