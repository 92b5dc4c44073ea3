"""The model card: one typed, versioned contract that rebuilds the model and carries its preprocessing and lineage
from the candidate through fine-tuning to serving."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import cli, write_params

from graftline.errors import ModelError
from graftline.models import weights
from graftline.models.card import Lineage, ModelCard, Preprocess, SourceEval, load_card, parse_card

CARD = ModelCard(architecture="test_resnet", num_classes=2, in_chans=1, label_names=["cat", "dog"],
                 preprocess=Preprocess(input_size=[1, 32, 32], mean=[0.5], std=[0.25], interpolation="bicubic",
                                       crop_pct=0.875, color_mode="grayscale", max_pixels=1_000_000),
                 lineage=Lineage(source="zoo:x", data_hash="d", params_hash="p", init="pretrained",
                                 source_eval=SourceEval(data="data/x.npz", split="eval", accuracy=0.5)),
                 augment="glyph")


def test_round_trip_through_save_and_load(tmp_path: Path):
    model = weights.create("test_resnet", 2, 1).eval()
    digest = weights.save(tmp_path / "m", model, CARD)
    loaded, card = weights.load(tmp_path / "m")
    assert card == CARD.model_copy(update={"weights_sha256": digest})
    assert load_card(tmp_path / "m.json") == card
    raw = json.loads((tmp_path / "m.json").read_text())
    # timm's pretrained_cfg / config.json names, where they mean the same
    assert {"architecture", "num_classes", "label_names"} <= set(raw) and raw["card_version"] == 1
    assert {"input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode"} <= set(raw["preprocess"])
    x = torch.rand(3, 1, 32, 32)
    assert torch.equal(model(x), loaded(x))


OLD = {"architecture": "test_resnet", "model_kwargs": {}, "num_classes": 2, "in_chans": 1, "input_size": [1, 32, 32],
       "mean": [0.5], "std": [0.25], "classes": ["cat", "dog"], "source": "zoo:x", "data_hash": "d",
       "params_hash": "p", "weights_sha256": "0" * 64, "color_mode": "auto"}


@pytest.mark.parametrize("where, fix", [("models/finetuned/seed-0", "dvc repro finetune"),
                                        ("models/baseline/seed-1", "dvc repro baseline"),
                                        ("models/zoo", "dvc repro zoo")])
def test_an_old_unversioned_card_is_refused_with_the_file_and_the_fix(tmp_path: Path, where: str, fix: str):
    stem = tmp_path / where / "model"
    stem.parent.mkdir(parents=True)
    weights.save(stem, weights.create("test_resnet", 2, 1), CARD)
    (stem.parent / "model.json").write_text(json.dumps(OLD))
    with pytest.raises(ModelError) as err:
        weights.load(stem)
    msg = str(err.value)
    assert str(stem.parent / "model.json") in msg and "unversioned" in msg and fix in msg
    assert "card_version" in msg and "preprocess" in msg and "lineage" in msg  # what is missing


def test_an_invalid_or_newer_card_is_refused_naming_the_field():
    data = CARD.model_dump(mode="json")
    with pytest.raises(ModelError, match=r"model.onnx: not a valid model card .*preprocess.*one value per channel"):
        parse_card({**data, "preprocess": {**data["preprocess"], "mean": [0.5, 0.5]}}, "models/export/model.onnx")
    with pytest.raises(ModelError, match=r"card_version 2: this graftline reads version 1.*dvc repro export"):
        parse_card({**data, "card_version": 2}, "models/export/model.onnx")
    with pytest.raises(ModelError, match="classes"):  # a key from the old layout is not silently ignored
        parse_card({**data, "classes": ["cat", "dog"]}, "m.json")


def _images(root: Path) -> None:
    """Two RGB classes told apart by colour, mixed sizes."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("red", "blue")):
        (root / "images" / name).mkdir(parents=True)
        for i in range(16):
            h, w = int(rng.integers(24, 48)), int(rng.integers(24, 48))
            a = (rng.random((h, w, 3)) * 40).astype(np.uint8)
            a[..., 0 if c == 0 else 2] += 200
            Image.fromarray(a, "RGB").save(root / "images" / name / f"{i}.png")


def test_a_finetuned_model_rebuilds_from_its_card_alone_and_keeps_the_timm_preprocessing(tmp_path: Path):
    """A plain state dict of a timm architecture (bicubic, crop_pct 0.95 in its pretrained_cfg) goes through the real
    select and finetune commands; the fine-tuned card keeps timm's interpolation and crop_pct, records the data's
    colour policy and pixel bound, and rebuilds the model with timm + safetensors alone: its accuracy on val is the
    one finetune recorded."""
    import timm
    from safetensors.torch import load_file, save_file

    from graftline.data.dataset import load_split
    from graftline.eval.logits import accuracy

    _images(tmp_path)
    torch.manual_seed(0)
    save_file(weights.create("test_convnext", 5, 3).state_dict(), str(tmp_path / "source.safetensors"))
    write_params(tmp_path, {
        "data": {"source": "folder", "root": "images", "train_per_class": None, "val_per_class": None,
                 "val_fraction": 0.25, "test_fraction": 0.25, "color_mode": "rgb", "max_pixels": 5_000_000},
        "select": {"candidates": [{"file": "source.safetensors", "architecture": "test_convnext"}],
                   "feature_cache": None},
        "finetune": {"steps": 4, "batch_size": 8, "eval_every": 2, "warmup_steps": 1, "keep_best": True,
                     "resume": False, "device": "cpu"}})
    from graftline.config import DataParams
    from graftline.data.prepare import run_prepare

    run_prepare(DataParams(source="folder", root="images", train_per_class=None, val_per_class=None, val_fraction=0.25,
                           test_fraction=0.25, color_mode="rgb", max_pixels=5_000_000),
                tmp_path, tmp_path / "data/prepared", progress=False)
    cli("select", cwd=tmp_path, check=True)
    cli("finetune", "--seed", "0", cwd=tmp_path, check=True)

    seed_dir = tmp_path / "models/finetuned/seed-0"
    card = load_card(seed_dir / "model.json")
    assert card.lineage.source == "file:source.safetensors" and card.lineage.init == "pretrained"
    assert (card.preprocess.interpolation, card.preprocess.crop_pct) == ("bicubic", 0.95)  # timm's, kept
    assert (card.preprocess.color_mode, card.preprocess.max_pixels) == ("rgb", 5_000_000)  # the data's
    assert card.label_names == ["blue", "red"] and card.num_classes == 2
    assert card.lineage.data_hash == json.loads((tmp_path / "data/prepared/meta.json").read_text())["data_hash"]

    raw = json.loads((seed_dir / "model.json").read_text())  # no graftline from here: timm + safetensors + JSON
    model = timm.create_model(raw["architecture"], num_classes=raw["num_classes"], in_chans=raw["in_chans"],
                              **raw["model_kwargs"])
    model.load_state_dict(load_file(str(seed_dir / "model.safetensors")), strict=True)
    model.eval()
    val = load_split(tmp_path / "data/prepared", tmp_path, "val", card.in_chans, card.preprocess.size, card.preprocess)
    recorded = json.loads((tmp_path / "metrics/finetune/seed-0.json").read_text())["val_acc"]
    x = val.tensors()
    assert accuracy(model, x, val.y, raw["preprocess"]["mean"], raw["preprocess"]["std"]) == pytest.approx(recorded)
    again, _ = weights.load(seed_dir / "model")
    with torch.inference_mode():
        assert torch.equal(model(x), again(x))  # the same logits as graftline's own loader
