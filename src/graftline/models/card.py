"""The model card: what a saved model is, how its input is made, and where it came from (``<stem>.json``).

One typed definition, written by one function (``write_card``, through ``weights.save``) and read by one
(``load_card``; ``parse_card`` for the same content from ONNX metadata). Key names follow timm's ``pretrained_cfg`` /
``save_for_hf`` config.json where they mean the same: ``architecture``, ``num_classes``, ``label_names``, and in
``preprocess`` ``input_size`` ([C, H, W]), ``mean``, ``std``, ``interpolation``, ``crop_pct``, ``crop_mode``. The card
is enough to rebuild the model without graftline::

    timm.create_model(card["architecture"], num_classes=card["num_classes"], in_chans=card["in_chans"],
                      **card["model_kwargs"]).load_state_dict(safetensors.torch.load_file("<stem>.safetensors"))

``preprocess.interpolation`` / ``crop_pct`` / ``crop_mode`` are the transform the weights were trained with (timm's
for hub and file candidates, graftline's own for the zoo), and every consumer applies them (``Preprocess.resize`` ->
``data.transforms``: select, finetune, baseline, check, export's parity check, ``predict``). ``augment`` is the
training augmentation policy (``finetune.augment``). ``export.resize`` describes the resize in words for a serving
team.

Importable without torch: ``graftline predict`` reads the card from the ONNX file in a torch-free container.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from graftline.config import COLOR_MODES
from graftline.data.transforms import CROP_MODES, FILTERS, Resize
from graftline.errors import ModelError
from graftline.atomic import write_json_atomic

CARD_VERSION = 1  # bump when a field changes meaning or is removed; readers refuse other versions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Preprocess(_Strict):
    """How an image becomes the model's input: decode with ``color_mode`` under ``max_pixels``, resize, normalise."""

    input_size: list[int]  # [C, H, W], timm's order
    mean: list[float]  # per channel, on pixels scaled to [0, 1]
    std: list[float]
    interpolation: Literal[tuple(FILTERS)] = "bilinear"  # timm's names; the resize filter, antialiased
    crop_pct: float = Field(1.0, gt=0.0, le=4.0)  # resize the shorter side to size / crop_pct, then centre crop
    crop_mode: Literal[CROP_MODES] = "center"  # timm's: center (keep aspect, crop) or squash (both sides)
    color_mode: Literal[COLOR_MODES] = "auto"  # the colour policy of the data it was trained on (data.color_mode)
    max_pixels: Optional[int] = None  # the decompression-bomb bound of that data (data.max_pixels)

    @model_validator(mode="after")
    def _per_channel(self) -> "Preprocess":
        if len(self.input_size) != 3 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be [C, H, W] of positive ints, got {self.input_size}")
        c = self.input_size[0]
        if any(v <= 0 for v in self.std):
            raise ValueError(f"std {self.std} must be positive")
        if len(self.mean) != c or len(self.std) != c:
            raise ValueError(f"mean {self.mean} and std {self.std} need one value per channel ({c})")
        return self

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return self.input_size[1], self.input_size[2]

    @property
    def resize(self) -> Resize:
        """The resize and centre crop every consumer applies (``data.transforms``: timm's eval transform)."""
        return Resize(self.size, self.interpolation, self.crop_pct, self.crop_mode)

    def for_data(self, color_mode: str, max_pixels: Optional[int]) -> "Preprocess":
        """This preprocessing with the colour policy and pixel bound of the data a model is trained on."""
        return Preprocess.model_validate({**self.model_dump(), "color_mode": color_mode, "max_pixels": max_pixels})


class SourceEval(_Strict):
    """The source task's held-out images (zoo models): what forgetting is measured on."""

    data: str  # project-relative .npz
    split: str
    accuracy: float


class Lineage(_Strict):
    """Where the weights came from. Hashes are None for weights graftline did not train (hub and file sources)."""

    source: str  # candidate id (zoo:<id>, hub:<name>, file:<path>), or "scratch"
    data_hash: Optional[str] = None  # data/prepared's hash (zoo: the source domain's)
    params_hash: Optional[str] = None  # the params section that trained it
    source_weights_sha256: Optional[str] = None  # the starting weights (the selected candidate's)
    init: Optional[Literal["pretrained", "scratch", "adapted", "source_only"]] = None
    strategy: Optional[str] = None
    regularizer: Optional[str] = None
    source_eval: Optional[SourceEval] = None


class Export(_Strict):
    """What the ONNX file adds to the card: its input and outputs (only on exported cards)."""

    preprocess: Literal["float", "in_graph"]  # export.preprocess
    input_name: str
    input_layout: str
    outputs: list[str]
    resize: str  # the resize graftline applies when serving (data.images)
    quantized: Optional[str] = None


class ModelCard(_Strict):
    card_version: int = CARD_VERSION
    architecture: str  # timm name
    model_kwargs: dict[str, Any] = {}  # extra timm.create_model arguments
    num_classes: int
    in_chans: int
    label_names: Optional[list[str]] = None  # class names in output order; None when the source's are unnamed
    preprocess: Preprocess
    lineage: Lineage
    augment: Optional[str] = None  # the training augmentation policy, when one is recorded
    weights_sha256: Optional[str] = None  # of the .safetensors bytes (set by weights.save), or a hub state's digest
    export: Optional[Export] = None

    @model_validator(mode="after")
    def _consistent(self) -> "ModelCard":
        if self.card_version != CARD_VERSION:
            raise ValueError(f"card_version {self.card_version}: this graftline reads version {CARD_VERSION}")
        if self.preprocess.input_size[0] != self.in_chans:
            raise ValueError(f"in_chans {self.in_chans} differs from preprocess.input_size {self.preprocess.input_size}")
        if self.label_names is not None and len(self.label_names) != self.num_classes:
            raise ValueError(f"{len(self.label_names)} label_names for num_classes {self.num_classes}")
        return self


def remake_hint(where: str | Path) -> str:
    """The command that writes the card at ``where`` again (from the project layout)."""
    p = Path(str(where))
    parts = p.parts
    if p.suffix == ".onnx" or "export" in parts[-2:-1]:
        return "re-run the export stage (`dvc repro export`, or `graftline export`)"
    for arm in ("finetuned", "baseline"):
        if arm in parts:
            return f"re-run the stage that made it (`dvc repro {'finetune' if arm == 'finetuned' else arm}`)"
    if "zoo" in parts:
        return "re-run the stage that made it (`dvc repro zoo`)"
    return ("re-save the model with this graftline (graftline.models.weights.save), or re-run the stage that made it "
            "(e.g. `dvc repro finetune`)")


def parse_card(data: Any, where: str | Path) -> ModelCard:
    """A card from its decoded JSON; a ModelError naming ``where``, what is wrong and the fix otherwise."""
    if not isinstance(data, dict):
        raise ModelError(f"{where}: not a model card (a JSON object was expected). Fix: {remake_hint(where)}.")
    if "card_version" not in data:
        lacking = [k for k in ("card_version", "preprocess", "lineage", "label_names") if k not in data]
        raise ModelError(
            f"{where}: an old, unversioned model card (it lacks {', '.join(lacking)}); this graftline reads card "
            f"version {CARD_VERSION}, with the preprocessing and lineage typed. Fix: {remake_hint(where)}.")
    try:
        return ModelCard.model_validate(data)
    except ValidationError as exc:
        what = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'card'}: {e['msg']}" for e in exc.errors()[:5])
        raise ModelError(f"{where}: not a valid model card (version {data.get('card_version')}): {what}. "
                         f"Fix: {remake_hint(where)}.") from None


def load_card(path: Path) -> ModelCard:
    """Read ``path`` (a model.json): the one reader of saved cards."""
    if not path.is_file():
        raise ModelError(f"{path}: model card not found. Fix: {remake_hint(path)}.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc}). Fix: {remake_hint(path)}.") from None
    return parse_card(data, path)


def write_card(path: Path, card: ModelCard) -> None:
    """Write ``card`` atomically: the one writer (``weights.save`` and the export stage call it)."""
    write_json_atomic(path, card.model_dump(mode="json"))
