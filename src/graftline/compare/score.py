"""Scoring an ONNX model file on image files with onnxruntime (numpy + PIL: no torch), from the model's own card.

The card (the ONNX ``metadata_props`` written by export) says how an image becomes the input and what the outputs
are called; a champion from an older commit is scored with its own preprocessing, not today's. The session, the
card and the input come from models.runtime, the path ``graftline predict`` serves with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from graftline.errors import ModelError
from graftline.models.card import ModelCard
from graftline.models.runtime import metadata, model_input, session, verify


def weights_digest(path: Path, card: ModelCard) -> str:
    """The weights' hash: the card's (sha256 of the trained safetensors) when it has one, else the ONNX file's."""
    return card.weights_sha256 or hashlib.sha256(path.read_bytes()).hexdigest()


def predict_labels(path: Path, images: list[Path], batch_size: int = 256) -> tuple[list[str], ModelCard]:
    """The class name each image is given by the ONNX model at ``path`` (argmax of its logits), and its card."""
    if not path.is_file():
        raise ModelError(f"{path}: no ONNX model. Run the export stage (`dvc repro export`) first.")
    verify(path)  # the challenger against its SHA256SUMS (a champion fetched from git has none beside it)
    sess = session(path)
    card = metadata(sess, path)
    if card.label_names is None:
        raise ModelError(f"{path}: the model card names no classes, so its predictions cannot be matched to "
                         "today's labels. Re-run the export stage with this graftline.")
    inp = sess.get_inputs()[0].name
    out = [sess.run(["logits"], {inp: model_input(images[i: i + batch_size], card)})[0].argmax(1)
           for i in range(0, len(images), batch_size)]
    idx = np.concatenate(out) if out else np.zeros(0, np.int64)
    return [card.label_names[int(k)] for k in idx], card
