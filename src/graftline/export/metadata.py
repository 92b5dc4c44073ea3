"""What the ONNX file says about itself: ``metadata_props`` that a serving team reads without our code.

Keys (prefix ``graftline.``, values JSON): ``classes``, ``mean``, ``std``, ``input_size`` ([C, H, W]),
``input_layout`` (``NCHW float32, normalised`` or ``NHWC uint8``), ``preprocess`` (``float`` | ``in_graph``),
``interpolation`` (how an image is resized to ``input_size``), ``color_mode`` (the colour policy of training),
``outputs``, and lineage: ``data_hash``, ``params_hash``, ``weights_sha256``, ``source``, ``architecture``.
``model.json`` beside the file carries the same keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from graftline.export.runtime import PREFIX

INTERPOLATION = ("bilinear, half-pixel centres, edge clamp, no antialias (torch interpolate align_corners=False; "
                 "graftline.data.images.resize_bilinear)")
LAYOUTS = {"float": "NCHW float32, normalised: (pixel / 255 - mean) / std", "in_graph": "NHWC uint8, 0-255"}


def describe(meta: dict, preprocess: str) -> dict:
    """The self-description of a model saved with ``meta`` (the saved-model contract) exported as ``preprocess``."""
    return {
        "classes": meta["classes"], "mean": meta["mean"], "std": meta["std"], "input_size": meta["input_size"],
        "in_chans": meta["in_chans"], "input_layout": LAYOUTS[preprocess], "preprocess": preprocess,
        "interpolation": INTERPOLATION, "color_mode": meta.get("color_mode", "auto"),
        "outputs": ["logits", "probs"] if preprocess == "in_graph" else ["logits"],
        "data_hash": meta.get("data_hash"), "params_hash": meta.get("params_hash"),
        "weights_sha256": meta.get("weights_sha256"), "source": meta.get("source"),
        "architecture": meta.get("architecture"),
    }


def finish(path: Path, props: dict) -> None:
    """Write ``props`` as metadata_props and drop the exporter's per-node debug metadata.

    The exporter's ``pkg.torch.onnx.stack_trace`` and friends hold absolute paths of the exporting machine: a leak in
    a shipped model and the reason the same weights exported from two checkouts gave two different files.
    """
    model = onnx.load(str(path))
    for g in [model.graph] + list(model.functions):
        for node in g.node:
            del node.metadata_props[:]
    keep = [p for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in props.items():
        model.metadata_props.add(key=PREFIX + k, value=json.dumps(v))
    model.producer_name = "graftline"
    model.doc_string = f"graftline image classifier: {len(props['classes'])} classes, input {props['input_layout']}"
    onnx.save(model, str(path))
