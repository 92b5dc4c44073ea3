"""Scoring an ONNX model file on image files with onnxruntime (numpy + PIL: no torch), from the model's own card.

The card (the ONNX ``metadata_props`` written by export) says how an image becomes the input and what the outputs
are called; a champion from an older commit is scored with its own preprocessing, not today's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from graftline.data.images import load_image
from graftline.errors import ModelError
from graftline.models.card import ModelCard, parse_card

PREFIX = "graftline."


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def card_of(sess, where: Path) -> ModelCard:
    raw = {k[len(PREFIX):]: v for k, v in sess.get_modelmeta().custom_metadata_map.items() if k.startswith(PREFIX)}
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return parse_card(out, where)


def weights_digest(path: Path, card: ModelCard) -> str:
    """The weights' hash: the card's (sha256 of the trained safetensors) when it has one, else the ONNX file's."""
    return card.weights_sha256 or hashlib.sha256(path.read_bytes()).hexdigest()


def _layout(x: np.ndarray, card: ModelCard) -> np.ndarray:
    if card.export is not None and card.export.preprocess == "in_graph":
        return np.ascontiguousarray(np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1))
    mean = np.asarray(card.preprocess.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(card.preprocess.std, np.float32).reshape(1, -1, 1, 1)
    return ((x - mean) / std).astype(np.float32)


def predict_labels(path: Path, images: list[Path], batch_size: int = 256) -> tuple[list[str], ModelCard]:
    """The class name each image is given by the ONNX model at ``path`` (argmax of its logits), and its card."""
    if not path.is_file():
        raise ModelError(f"{path}: no ONNX model. Run the export stage (`dvc repro export`) first.")
    sess = _session(path)
    card = card_of(sess, path)
    if card.label_names is None:
        raise ModelError(f"{path}: the model card names no classes, so its predictions cannot be matched to "
                         "today's labels. Re-run the export stage with this graftline.")
    pre = card.preprocess
    c, h, w = pre.input_size
    inp = sess.get_inputs()[0].name
    out = []
    for i in range(0, len(images), batch_size):
        x = np.stack([load_image(p, c, (h, w), pre.color_mode, pre.max_pixels) for p in images[i: i + batch_size]])
        out.append(sess.run(["logits"], {inp: _layout(x, card)})[0].argmax(1))
    idx = np.concatenate(out) if out else np.zeros(0, np.int64)
    return [card.label_names[int(k)] for k in idx], card
