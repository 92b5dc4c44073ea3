"""The saved-model contract rebuilds the exact model; the training loop learns and is reproducible."""

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import toy_bars

from graftline.errors import ModelError
from graftline.models import weights
from graftline.models.card import Lineage, ModelCard, Preprocess
from graftline.data.dataset import ArrayData
from graftline.eval.logits import accuracy
from graftline.train.loop import FitData, fit
from graftline.train.recipe import Recipe

CARD = ModelCard(architecture="test_resnet", num_classes=3, in_chans=1, label_names=["a", "b", "c"],
                 preprocess=Preprocess(input_size=[1, 32, 32], mean=[0.5], std=[0.25]),
                 lineage=Lineage(source="scratch", data_hash="d", params_hash="p"))


def test_roundtrip_through_json_and_safetensors(tmp_path: Path):
    model = weights.create("test_resnet", 3, 1)
    model.eval()
    digest = weights.save(tmp_path / "m.with.dots", model, CARD)
    assert (tmp_path / "m.with.dots.safetensors").is_file() and (tmp_path / "m.with.dots.json").is_file()
    loaded, card = weights.load(tmp_path / "m.with.dots")
    x = torch.randn(4, 1, 32, 32)
    assert torch.equal(model(x), loaded(x))
    assert card.weights_sha256 == digest
    # The documented recipe works without graftline: timm.create_model + safetensors, keys read from the raw JSON.
    import timm
    from safetensors.torch import load_file

    meta = json.loads((tmp_path / "m.with.dots.json").read_text())

    m2 = timm.create_model(meta["architecture"], num_classes=meta["num_classes"], in_chans=meta["in_chans"],
                           **meta["model_kwargs"])
    m2.load_state_dict(load_file(tmp_path / "m.with.dots.safetensors"))
    m2.eval()
    assert torch.equal(model(x), m2(x))


def test_load_errors_are_clear(tmp_path: Path):
    with pytest.raises(ModelError, match="not found"):
        weights.load(tmp_path / "absent")
    model = weights.create("test_resnet", 3, 1)
    weights.save(tmp_path / "m", model, CARD)
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["num_classes"], meta["label_names"] = 7, list("abcdefg")  # a valid card that the weights do not fit
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="do not fit"):
        weights.load(tmp_path / "m")
    with pytest.raises(ModelError, match="cannot build timm architecture"):
        weights.create("no_such_net_x", 3, 1)


def _toy(n=60, seed=0):
    return toy_bars(n, seed)


def test_fit_learns_and_is_reproducible():
    x, y = _toy()
    recipe = Recipe(steps=40, batch_size=16, lr=0.01, warmup_steps=2, eval_every=20, augment=False, seed=3)
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = weights.create("test_resnet", 3, 1)
        before = accuracy(model, x, y, [0.5], [0.25])
        res = fit(model, FitData(ArrayData(x, y), ArrayData(x, y), [0.5], [0.25]), recipe)
        states.append(torch.cat([t.flatten().float() for t in model.state_dict().values()]))
    assert accuracy(model, x, y, [0.5], [0.25]) > max(0.9, before)
    assert res.history[-1]["step"] == 40 and res.kept_step == 40
    assert torch.equal(states[0], states[1])  # same seed, same weights, bit for bit (CPU)


def test_both_arms_start_from_a_zero_head_and_transfer_keeps_the_body(tmp_path: Path):
    from graftline.train.finetune import init_model

    torch.manual_seed(0)
    src = weights.create("test_resnet", 10, 1)
    body = {k: v.clone() for k, v in src.state_dict().items() if not k.startswith("fc.")}
    transfer = init_model(src, CARD, 3, zero_init_head=True)
    scratch = init_model(None, CARD, 3, zero_init_head=True)
    for m in (transfer, scratch):
        head = m.get_classifier()
        assert head.out_features == 3 and all((t == 0).all() for t in head.parameters())
    state = transfer.state_dict()
    assert all(torch.equal(state[k], v) for k, v in body.items())  # the pretrained body is untouched
    assert not torch.equal(scratch.state_dict()["conv1.0.weight"], body["conv1.0.weight"])  # scratch is re-initialised


def test_a_saved_model_with_a_malformed_safetensors_header_is_one_clear_error(tmp_path: Path):
    """8 bytes of header length that no file holds, then junk: safetensors' own error becomes a ModelError naming
    the file and the fix (the CLI prints it as one paragraph, exit 2)."""
    weights.save(tmp_path / "m", weights.create("test_resnet", 3, 1), CARD)
    (tmp_path / "m.safetensors").write_bytes(b"\xff" * 7 + b"\x7f" + b'{"bad')
    with pytest.raises(ModelError, match=r"m\.safetensors: not a readable safetensors file .*header"):
        weights.load(tmp_path / "m")
