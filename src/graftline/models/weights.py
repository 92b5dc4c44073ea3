"""The saved-model contract: ``<stem>.safetensors`` + ``<stem>.json``.

The JSON has the keys ``architecture`` (timm name), ``model_kwargs`` (extra ``create_model`` arguments),
``num_classes``, ``in_chans``, ``input_size`` ([C, H, W]), ``mean``, ``std``, ``classes``, ``source`` (candidate id,
or ``scratch``), ``data_hash``, ``params_hash`` — enough for

    timm.create_model(architecture, num_classes=..., in_chans=..., **model_kwargs) + load the safetensors

to rebuild the model anywhere. Loading never unpickles.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from graftline.errors import ModelError
from graftline.project import write_bytes_atomic, write_json_atomic

def _with(stem: Path, suffix: str) -> Path:
    """``stem`` + suffix; ids contain dots (``resnet10t.digits``), so Path.with_suffix would eat part of them."""
    return stem.parent / f"{stem.name}{suffix}"


REQUIRED_KEYS = ("architecture", "model_kwargs", "num_classes", "in_chans", "input_size", "mean", "std", "classes",
                 "source", "data_hash", "params_hash")


def create(architecture: str, num_classes: int, in_chans: int, model_kwargs: dict | None = None) -> torch.nn.Module:
    """A freshly initialised timm model (no download)."""
    import timm

    try:
        return timm.create_model(architecture, pretrained=False, num_classes=num_classes, in_chans=in_chans,
                                 **(model_kwargs or {}))
    except RuntimeError as exc:  # timm's "Unknown model (...)"
        raise ModelError(f"cannot build timm architecture {architecture!r}: {exc}. "
                         "Check the name with `python -c \"import timm; print(timm.list_models('resnet*'))\"`.") from None


def save(stem: Path, model: torch.nn.Module, meta: dict[str, Any]) -> str:
    """Write ``stem.safetensors`` then ``stem.json`` atomically; return the weights' sha256 (the model hash)."""
    from safetensors.torch import save as st_save

    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ValueError(f"model metadata lacks {missing}")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # One metadata key only: safetensors writes its metadata map in hash order, so several keys would make the
    # file's bytes (and every hash DVC records downstream) differ from run to run for identical weights.
    blob = st_save(state, metadata={"format": "pt"})
    digest = hashlib.sha256(blob).hexdigest()
    write_bytes_atomic(_with(stem, ".safetensors"), blob)
    write_json_atomic(_with(stem, ".json"), {**meta, "weights_sha256": digest})
    return digest


def read_meta(stem: Path) -> dict[str, Any]:
    path = _with(stem, ".json")
    if not path.is_file():
        raise ModelError(f"{path}: model description not found (expected next to {_with(stem, '.safetensors')}).")
    meta = json.loads(path.read_text())
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{path}: missing keys {', '.join(missing)}; it was not written by graftline's saved-model contract.")
    return meta


def load(stem: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a saved model from its JSON and safetensors (strict: every tensor must match)."""
    from safetensors.torch import load_file

    meta = read_meta(stem)
    weights = _with(stem, ".safetensors")
    if not weights.is_file():
        raise ModelError(f"{weights}: weights not found next to {_with(stem, '.json')}.")
    model = create(meta["architecture"], meta["num_classes"], meta["in_chans"], meta["model_kwargs"])
    try:
        model.load_state_dict(load_file(str(weights)), strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{weights}: weights do not fit {meta['architecture']} as described in its JSON: {exc}") from None
    model.eval()
    return model, meta
