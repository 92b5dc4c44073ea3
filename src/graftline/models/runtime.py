"""Serving without torch: an onnxruntime session, the model's self-description, and its input from image files.

Everything here needs onnxruntime, numpy and PIL only (``graftline predict`` in a serving container). The ONNX file
describes itself with its model card (``metadata_props``, written by ``export.metadata``): class names,
preprocessing (size, channels, mean/std, colour policy, pixel bound), input layout and lineage. Images go through
``data.images.load_image``, the one decode + colour policy + resize path the model was trained with (the card's
``preprocess.resize``: interpolation, crop_pct, crop_mode; ``data.transforms``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from graftline.data.images import load_image
from graftline.models.card import ModelCard, parse_card

PREFIX = "graftline."


SUMS = "SHA256SUMS"  # beside the exported files, in `sha256sum -c` format: what export wrote


def session(path: Path, threads: int | None = None):
    """An onnxruntime session on ``path``; a file onnxruntime cannot load (cut short, not ONNX, corrupt) is a
    ModelError naming it and the fix, not onnxruntime's traceback."""
    import onnxruntime as ort

    from graftline.errors import ModelError

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own pybind classes (InvalidProtobuf, Fail, ...)
        reason = str(exc).splitlines()[0][:300]
        raise ModelError(f"{path}: not a loadable ONNX model (onnxruntime: {reason}). The file is cut short, corrupt "
                         "or not ONNX: restore it (`dvc checkout models/export`) or export again "
                         "(`dvc repro export`).") from None


def write_sums(folder: Path) -> None:
    """Record the sha256 of every ONNX file in ``folder`` in ``folder/SHA256SUMS`` (export, before publishing)."""
    import hashlib

    lines = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}\n" for f in sorted(folder.glob("*.onnx"))]
    (folder / SUMS).write_text("".join(lines), encoding="utf-8")


def verify(path: Path) -> None:
    """A ModelError when ``path`` is listed in the SHA256SUMS beside it with another hash: the file changed after
    export (an edit, a copy cut short, a disk error). A file without a SHA256SUMS beside it (copied alone) is not
    checked."""
    import hashlib

    from graftline.errors import ModelError

    sums = path.parent / SUMS
    if not sums.is_file():
        return
    recorded = dict(reversed(line.split(None, 1)) for line in sums.read_text(encoding="utf-8").splitlines()
                    if len(line.split(None, 1)) == 2)
    want = recorded.get(path.name)
    if want is None:
        return
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != want.strip():
        raise ModelError(f"{path}: its sha256 {got[:12]}… is not the {want.strip()[:12]}… that export recorded in "
                         f"{sums}: the file changed after export (an edit, a copy cut short, a disk error), so its "
                         "predictions cannot be trusted. Restore it (`dvc checkout models/export`) or export again "
                         "(`dvc repro export`).")


def metadata(sess, where: str | Path = "the ONNX model") -> ModelCard:
    """The model's card, read back from its ``metadata_props``; a ModelError naming ``where`` and the fix when the
    file carries none, or an old (unversioned) one."""
    raw = sess.get_modelmeta().custom_metadata_map
    out = {}
    for k, v in raw.items():
        if k.startswith(PREFIX):
            try:
                out[k[len(PREFIX):]] = json.loads(v)
            except json.JSONDecodeError:
                out[k[len(PREFIX):]] = v
    return parse_card(out, where)


def model_input(images: list[Path], card: ModelCard) -> np.ndarray:
    """Files -> the ONNX input the card asks for: normalised float32 NCHW, or uint8 NHWC (in-graph)."""
    pre = card.preprocess
    c, h, w = pre.input_size
    arrays = [load_image(p, c, pre.resize, pre.color_mode, pre.max_pixels) for p in images]
    x = np.stack(arrays) if arrays else np.zeros((0, c, h, w), np.float32)
    return to_layout(x, card)


def to_layout(x: np.ndarray, card: ModelCard) -> np.ndarray:
    """float32 [N, C, H, W] in [0, 1] -> what the graph takes (the card's ``export.input_layout``)."""
    if card.export is not None and card.export.preprocess == "in_graph":
        return np.ascontiguousarray(np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1))
    mean = np.asarray(card.preprocess.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(card.preprocess.std, np.float32).reshape(1, -1, 1, 1)
    return ((x - mean) / std).astype(np.float32)


def probabilities(sess, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Class probabilities [N, classes] (the graph's ``probs`` output when it has one, else softmax(logits))."""
    names = [o.name for o in sess.get_outputs()]
    inp = sess.get_inputs()[0].name
    out = []
    for i in range(0, len(x), batch_size):
        if "probs" in names:
            out.append(sess.run(["probs"], {inp: x[i: i + batch_size]})[0])
        else:
            z = sess.run(["logits"], {inp: x[i: i + batch_size]})[0]
            z = np.exp(z - z.max(1, keepdims=True))  # softmax in numpy: scipy would add 0.2 s to start-up
            out.append(z / z.sum(1, keepdims=True))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
