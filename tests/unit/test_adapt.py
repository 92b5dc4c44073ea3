"""Unsupervised domain adaptation: the methods' losses by hand, the label-free criterion, and the no-leak rule
(the target's labels cannot change the adapted weights)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from graftline.adapt.coral import coral_loss
from graftline.adapt.criteria import snd_from_logits
from graftline.adapt.dann import grad_reverse, warm_start
from graftline.adapt.data import folder_images, target_images
from graftline.adapt.im import im_loss
from graftline.adapt.loop import AdaptRecipe, adapt
from graftline.adapt.mcc import mcc_loss
from graftline.models import weights
from tests.conftest import toy_bars


def test_coral_is_the_scaled_frobenius_distance_of_covariances():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g) * 3
    ca, cb = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    assert coral_loss(a, b).item() == pytest.approx(((ca - cb) ** 2).sum() / (4 * 16), rel=1e-5)
    assert coral_loss(a, a + 5).item() == pytest.approx(0, abs=1e-6)  # a shift alone is not penalised


def test_mcc_is_zero_for_confident_distinct_classes_and_high_for_confusion():
    confident = torch.eye(5) * 100
    assert mcc_loss(confident).item() == pytest.approx(0, abs=1e-4)
    confused = torch.zeros(8, 5)  # every prediction uniform: row-normalised confusion is 1/5 everywhere
    assert mcc_loss(confused).item() == pytest.approx(4 / 5, rel=1e-4)


def test_im_prefers_confident_and_diverse_predictions():
    diverse = torch.eye(4) * 20
    collapsed = torch.zeros(4, 4)
    collapsed[:, 0] = 20
    assert im_loss(diverse).item() == pytest.approx(-np.log(4), abs=1e-3)  # entropy 0, diversity log 4
    assert im_loss(collapsed).item() > im_loss(diverse).item() + 1


def test_gradient_reversal_and_warm_start():
    x = torch.ones(3, requires_grad=True)
    grad_reverse(x, 0.5).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -0.5))
    assert warm_start(0.0) == 0 and warm_start(1.0) == pytest.approx(2 / (1 + np.exp(-10)) - 1)
    assert warm_start(0.1) < warm_start(0.5) < warm_start(1.0)


def test_snd_prefers_tight_clusters_to_scattered_confident_predictions():
    g = torch.Generator().manual_seed(0)
    clustered = (torch.eye(4).repeat(10, 1) * 8) + torch.randn(40, 4, generator=g) * 0.1
    scattered = torch.randn(40, 4, generator=g) * 4
    assert snd_from_logits(clustered) == pytest.approx(np.log(9), abs=0.01)  # 9 equal neighbours each
    assert snd_from_logits(clustered) > snd_from_logits(scattered)


def _prepared(tmp: Path, labels_seed: int | None = None) -> Path:
    """A real data/prepared: PNG files + manifest; with labels_seed, the train/val labels are permuted."""
    x, y = toy_bars(24)
    root = tmp / "images"
    rows = []
    for i, (img, lab) in enumerate(zip(x, y)):
        p = root / f"{i:03d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img[0].numpy() * 255).astype(np.uint8), "L").save(p)
        rows.append([p.name, str(int(lab)), "test" if i < 6 else ("val" if i < 10 else "train")])
    fit = [i for i, r in enumerate(rows) if r[2] != "test"]
    if labels_seed is not None:
        perm = [rows[i][1] for i in fit]
        random.Random(labels_seed).shuffle(perm)
        for i, lab in zip(fit, perm):
            rows[i][1] = lab
    prepared = tmp / "prepared"
    prepared.mkdir()
    lines = ["path,label,split,sha256,width,height,mode"] + [f"{p},{lab},{s},,32,32,L" for p, lab, s in rows]
    (prepared / "manifest.csv").write_text("\n".join(lines) + "\n")
    (prepared / "classes.json").write_text(json.dumps(["0", "1", "2"]))
    (prepared / "meta.json").write_text(json.dumps({"root": str(root)}))
    return prepared


def _adapted(prepared: Path, method: str, target: torch.Tensor | None = None) -> dict:
    torch.manual_seed(0)
    model = weights.create("resnet10t", 3, 1)
    sx, sy = toy_bars(32, seed=1)
    tx = target_images(prepared, prepared, ("train", "val"), 1, (32, 32)) if target is None else target
    adapt(model, sx, sy, tx, AdaptRecipe(method=method, steps=3, batch_size=8), [0.5], [0.25])
    return model.state_dict()


@pytest.mark.parametrize("method", ["dann", "cdan", "mcc"])
def test_target_labels_never_change_the_adapted_weights(tmp_path, method):
    a = _adapted(_prepared(tmp_path / "a"), method)
    b = _adapted(_prepared(tmp_path / "b", labels_seed=1), method)
    labels_a = (tmp_path / "a/prepared/manifest.csv").read_text()
    assert labels_a != (tmp_path / "b/prepared/manifest.csv").read_text()  # the labels did differ
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit-identical weights
    # ... and the test can fail: other target images do change them.
    c = _adapted(_prepared(tmp_path / "c"), method, target=toy_bars(14, seed=7)[0])
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_unlabelled_folder_reads_every_image(tmp_path):
    for i, sub in enumerate(["", "x", "x/y"]):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / sub / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    x = folder_images(tmp_path, 1, (16, 16))
    assert x.shape == (3, 1, 16, 16) and 0 <= x.min() and x.max() <= 1


def test_unlabelled_images_go_through_the_source_cards_resize_and_crop(tmp_path):
    """Adaptation trains on the transform the adapted model's card serves with (the source weights' interpolation
    and crop_pct), not a plain resize of the whole image."""
    from graftline.data.images import load_image
    from graftline.data.transforms import Resize

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    card_resize = Resize((16, 16), "bicubic", 0.5, "center")
    x = folder_images(tmp_path, 3, card_resize)
    assert np.array_equal(x[0].numpy(), load_image(tmp_path / "a.png", 3, card_resize))
    assert not np.allclose(x[0].numpy(), folder_images(tmp_path, 3, (16, 16))[0].numpy(), atol=0.05)


def test_dev_is_the_plain_source_loss_when_the_target_looks_like_the_source():
    from graftline.adapt.criteria import _features_and_losses, dev

    torch.manual_seed(0)
    model = weights.create("resnet10t", 3, 1).eval()
    x, y = toy_bars(120, seed=3)
    _, loss = _features_and_losses(model, x[:60], y[:60], [0.5], [0.25])
    # the target is more of the same distribution: the weights stay near 1, DEV near the mean source loss
    assert dev(model, x[:60], y[:60], x[60:], [0.5], [0.25]) == pytest.approx(loss.mean().item(), rel=0.1)


def test_the_source_head_is_put_in_the_target_class_order():
    from graftline.adapt.stage import _to_target_order

    torch.manual_seed(0)
    model = weights.create("resnet10t", 3, 1)
    w = model.get_classifier().weight.detach().clone()
    x, y = toy_bars(12)
    src = {"x": x, "y": y, "x_eval": x, "y_eval": y, "classes": ["a", "b", "c"]}
    out = _to_target_order(model, src, ["a", "b", "c"], ["c", "a"])  # a target with two of the classes, reordered
    head = model.get_classifier()
    assert head.out_features == 2 and torch.equal(head.weight, w[[2, 0]])
    assert model.eval()(torch.zeros(1, 1, 32, 32)).shape == (1, 2)
    assert torch.equal(out["y"], torch.tensor([1 if v == 0 else 0 for v in y if v != 1]))  # b dropped, a->1, c->0
    with pytest.raises(Exception, match="not among the source"):
        _to_target_order(weights.create("resnet10t", 3, 1), src, ["a", "b", "c"], ["z"])


def test_cdan_conditions_the_discriminator_on_features_times_predictions():
    from graftline.adapt.cdan import CDAN

    torch.manual_seed(0)
    cdan = CDAN(feat_dim=3, num_classes=2)
    f, g = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.25, 0.75]])
    assert torch.allclose(cdan.multilinear(f, g), torch.tensor([[0.25, 0.5, 0.75, 0.75, 1.5, 2.25]]))
    # randomized multilinear map for large |C|*d: (f Rf) * (g Rg) / sqrt(r), with fixed buffers
    big = CDAN(feat_dim=512, num_classes=20)
    assert big.randomized and big.rf.shape == (512, 1024)
    ff, gg = torch.randn(4, 512), torch.softmax(torch.randn(4, 20), 1)
    assert torch.allclose(big.multilinear(ff, gg), (ff @ big.rf) * (gg @ big.rg) / 32)
    # the features get the reversed discriminator gradient; the predictions are detached (no gradient to logits)
    fs, ft = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    ls, lt = torch.randn(4, 2, requires_grad=True), torch.randn(4, 2, requires_grad=True)
    cdan(fs, ft, ls, lt, progress=1.0).backward()
    assert fs.grad.abs().sum() > 0 and ls.grad is None
    d_param = next(cdan.disc.parameters())
    assert d_param.grad.abs().sum() > 0


def test_cdan_entropy_conditioning_weights_confident_images_more():
    from graftline.adapt.cdan import CDAN, entropy_weights

    # By hand: softmax([9, -9]) ~ (1, 0), H ~ 0, w = 1 + e^0 = 2; softmax([0, 0]) = (.5, .5), H = log 2,
    # w = 1 + 1/2 = 1.5; scaled to mean 1 over the two: 2 / 1.75 = 8/7 and 1.5 / 1.75 = 6/7.
    g = torch.softmax(torch.tensor([[9.0, -9.0], [0.0, 0.0]]), 1)
    assert entropy_weights(g).tolist() == pytest.approx([8 / 7, 6 / 7], abs=1e-4)
    torch.manual_seed(0)
    fs, ft = torch.randn(2, 3), torch.randn(2, 3)
    ls = lt = torch.tensor([[9.0, -9.0], [0.0, 0.0]])  # each domain: one confident, one unsure image
    plain = CDAN(3, 2, entropy_conditioning=False).eval()
    weighted = CDAN(3, 2, entropy_conditioning=True).eval()
    weighted.load_state_dict(plain.state_dict())
    d = plain.disc(plain.multilinear(torch.cat([fs, ft]), torch.softmax(torch.cat([ls, lt]), 1))).squeeze(1)
    per = torch.nn.functional.binary_cross_entropy_with_logits(d, torch.tensor([1.0, 1, 0, 0]), reduction="none")
    w = torch.tensor([8 / 7, 6 / 7, 8 / 7, 6 / 7])
    assert weighted(fs, ft, ls, lt, 1.0).item() == pytest.approx((w * per).mean().item(), abs=1e-4)
    assert plain(fs, ft, ls, lt, 1.0).item() == pytest.approx(per.mean().item(), rel=1e-6)


def test_the_method_registry_is_what_params_yaml_accepts():
    """adapt.method is a Literal in config (layer 0): the registered methods plus none; each carries its default
    trade-off."""
    from typing import get_args

    from graftline.adapt import METHODS
    from graftline.config import AdaptParams

    assert set(get_args(AdaptParams.model_fields["method"].annotation)) == set(METHODS) | {"none"}
    assert {n: c.trade_off for n, c in METHODS.items()} == {"source_only": 0.0, "dann": 0.1, "cdan": 0.3,
                                                            "mcc": 1.0, "coral": 10.0, "im": 3.0}
    assert all(c.name == n for n, c in METHODS.items())


def test_a_misspelt_method_option_is_an_error_not_ignored():
    from graftline.adapt import build_method
    from graftline.errors import ConfigError

    assert build_method("mcc", 4, 3, {"temperature": 1.0}).temperature == 1.0
    with pytest.raises(ConfigError, match="mcc has no option 'tempreature'; its options are temperature"):
        build_method("mcc", 4, 3, {"tempreature": 1.0})
    with pytest.raises(ConfigError, match="coral has no option 'bottleneck'; its options are none"):
        build_method("coral", 4, 3, {"bottleneck": 8})
    x, y = toy_bars(8, 0)
    model = weights.create("test_resnet", 3, 1)
    with pytest.raises(ConfigError, match="dann has no option 'botleneck'"):  # through the loop, before training
        adapt(model, x, y, x, AdaptRecipe(method="dann", steps=1, batch_size=4, method_kwargs={"botleneck": 8}),
              [0.5], [0.25])


def test_a_labelled_folder_or_csv_is_a_source(tmp_path):
    from graftline.adapt.data import labelled_source

    for c, v in (("cat", 30), ("dog", 200)):
        for i in range(10):
            (tmp_path / "src" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((12, 9, 3), v + i, np.uint8)).save(tmp_path / "src" / c / f"{i:02d}.png")
    src = labelled_source(tmp_path / "src", 3, (16, 16))
    assert src["classes"] == ["cat", "dog"]
    assert src["x"].shape == (16, 3, 16, 16) and src["x_eval"].shape == (4, 3, 16, 16)  # every 5th held out
    assert src["y"].tolist() == [0] * 8 + [1] * 8 and src["y_eval"].tolist() == [0, 0, 1, 1]
    assert src["x_eval"][0, 0, 0, 0].item() == pytest.approx((30 + 4) / 255)  # cat/04.png, the 5th cat
    # a CSV keeps its own split column
    lines = ["path,label,split"] + [f"src/{c}/{i:02d}.png,{c},{'val' if i < 3 else 'train'}" for c in ("cat", "dog")
                                    for i in range(10)]
    (tmp_path / "src.csv").write_text("\n".join(lines) + "\n")
    csv_src = labelled_source(tmp_path / "src.csv", 1, (8, 8))
    assert len(csv_src["x"]) == 14 and len(csv_src["x_eval"]) == 6 and csv_src["x"].shape[1] == 1
    # a file that cannot be decoded is named
    (tmp_path / "src" / "dog" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(Exception, match="bad.png"):
        labelled_source(tmp_path / "src", 3, (16, 16))
