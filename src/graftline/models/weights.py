"""The saved-model contract: ``<stem>.safetensors`` + ``<stem>.json`` (the model card, ``models/card.py``).

The card holds ``architecture`` (timm name), ``model_kwargs``, ``num_classes``, ``in_chans``, the class names, the
preprocessing and the lineage — enough for

    timm.create_model(architecture, num_classes=..., in_chans=..., **model_kwargs) + load the safetensors

to rebuild the model anywhere. ``save`` is the one writer of saved models, ``load`` / ``card.load_card`` the
readers. Loading never unpickles.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from graftline.errors import ModelError
from graftline.models.card import ModelCard, load_card, write_card
from graftline.atomic import write_bytes_atomic


def _with(stem: Path, suffix: str) -> Path:
    """``stem`` + suffix; ids contain dots (``resnet10t.digits``), so Path.with_suffix would eat part of them."""
    return stem.parent / f"{stem.name}{suffix}"


def create(architecture: str, num_classes: int, in_chans: int, model_kwargs: dict | None = None) -> torch.nn.Module:
    """A freshly initialised timm model (no download)."""
    import timm

    try:
        return timm.create_model(architecture, pretrained=False, num_classes=num_classes, in_chans=in_chans,
                                 **(model_kwargs or {}))
    except RuntimeError as exc:  # timm's "Unknown model (...)"
        raise ModelError(f"cannot build timm architecture {architecture!r}: {exc}. "
                         "Check the name with `python -c \"import timm; print(timm.list_models('resnet*'))\"`.") from None


def save(stem: Path, model: torch.nn.Module, card: ModelCard) -> str:
    """Write ``stem.safetensors`` then ``stem.json`` (``card`` with the weights' hash) atomically; return the hash."""
    from safetensors.torch import save as st_save

    if not isinstance(card, ModelCard):
        raise TypeError(f"weights.save needs a ModelCard (models/card.py), got {type(card).__name__}")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # One metadata key only: safetensors writes its metadata map in hash order, so several keys would make the
    # file's bytes (and every hash DVC records downstream) differ from run to run for identical weights.
    blob = st_save(state, metadata={"format": "pt"})
    digest = hashlib.sha256(blob).hexdigest()
    write_bytes_atomic(_with(stem, ".safetensors"), blob)
    write_card(_with(stem, ".json"), card.model_copy(update={"weights_sha256": digest}))
    return digest


def read_card(stem: Path) -> ModelCard:
    """The card of the model saved at ``stem``."""
    return load_card(_with(stem, ".json"))


def load(stem: Path) -> tuple[torch.nn.Module, ModelCard]:
    """Rebuild a saved model from its card and safetensors (strict: every tensor must match)."""
    from safetensors.torch import load_file

    card = read_card(stem)
    weights = _with(stem, ".safetensors")
    if not weights.is_file():
        raise ModelError(f"{weights}: weights not found next to {_with(stem, '.json')}.")
    model = create(card.architecture, card.num_classes, card.in_chans, card.model_kwargs)
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors' SafetensorError (a bad header), an OSError, ...
        raise ModelError(f"{weights}: not a readable safetensors file ({type(exc).__name__}: {exc}); it is cut short "
                         "or corrupt. Restore it (`dvc checkout`) or train it again (`dvc repro`).") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{weights}: weights do not fit {card.architecture} as described in its card: {exc}") from None
    model.eval()
    return model, card
