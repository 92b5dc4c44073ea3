"""What the ONNX file says about itself: the model card, as ``metadata_props`` a serving team reads without our code.

Each top-level field of the exported card (``models/card.py``) is one key, prefixed ``graftline.``, its value JSON:
``card_version``, ``architecture``, ``model_kwargs``, ``num_classes``, ``in_chans``, ``label_names``, ``preprocess``
(input_size [C, H, W], mean, std, interpolation, crop_pct, crop_mode, color_mode, max_pixels), ``lineage`` (source,
data_hash, params_hash, source_weights_sha256, ...), ``augment``, ``weights_sha256`` and ``export`` (the graph's
input name and layout, outputs, and ``resize``: how graftline resizes an image to ``input_size`` today).
``model.json`` beside the file is the same card. ``models.runtime.metadata`` reads it back, typed.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from graftline.models.runtime import PREFIX
from graftline.models.card import Export, ModelCard

def resize_words(card: ModelCard) -> str:
    """How serving brings an image to the input size, in words a serving team can re-implement."""
    pre = card.preprocess
    h, w = pre.size
    side = ("both sides to" if pre.crop_mode == "squash" else "the shorter side to")
    return (f"decode ({pre.color_mode}), resize {side} floor({h}/{pre.crop_pct:g}) x floor({w}/{pre.crop_pct:g}) "
            f"with PIL's antialiased {pre.interpolation} filter (timm's eval transform; enlarging with bilinear: "
            f"float, half-pixel centres), centre crop {h}x{w}, /255 (graftline.data.transforms)")
LAYOUTS = {"float": "NCHW float32, normalised: (pixel / 255 - mean) / std", "in_graph": "NHWC uint8, 0-255"}


def describe(card: ModelCard, preprocess: str) -> ModelCard:
    """The card of the model saved with ``card``, exported with ``export.preprocess`` = ``preprocess``."""
    in_graph = preprocess == "in_graph"
    export = Export(preprocess=preprocess, input_name="image" if in_graph else "input",
                    input_layout=LAYOUTS[preprocess], outputs=["logits", "probs"] if in_graph else ["logits"],
                    resize=resize_words(card))
    return card.model_copy(update={"export": export})


def props(card: ModelCard) -> dict[str, str]:
    """The card as ``metadata_props``: one prefixed key per top-level field, JSON values."""
    return {PREFIX + k: json.dumps(v) for k, v in card.model_dump(mode="json").items()}


def finish(path: Path, card: ModelCard) -> None:
    """Write ``card`` as metadata_props and drop the exporter's per-node debug metadata.

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
    for k, v in props(card).items():
        model.metadata_props.add(key=k, value=v)
    model.producer_name = "graftline"
    layout = card.export.input_layout if card.export else LAYOUTS["float"]
    model.doc_string = f"graftline image classifier: {card.num_classes} classes, input {layout}"
    onnx.save(model, str(path))
