"""Preprocessing from the model card (data/transforms.py): timm's own eval transform to the bit on real photos, no
aliasing on a large photo, the demo's 32-px path unchanged, and train == serve through ONNX."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from graftline.data.images import load_image, to_float
from graftline.data.transforms import Resize, resize_bilinear, resize_crop


def _photos() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_sample_image

    return {n: load_sample_image(n) for n in ("china.jpg", "flower.jpg")}


def _timm_cfg():
    import timm
    from timm.data import resolve_data_config

    return resolve_data_config({}, model=timm.create_model("tf_efficientnet_lite0", pretrained=False))


def test_equals_timms_own_transform_on_real_photos():
    """tf_efficientnet_lite0's data config (bicubic, crop 0.875, 224) and variants; tolerance 1e-6 after mean/std,
    i.e. the same pixels (one grey level is 1/255/0.5 = 7.8e-3 here)."""
    from timm.data import create_transform

    from graftline.models.card import Preprocess

    cfg = _timm_cfg()
    assert (cfg["interpolation"], cfg["crop_pct"]) == ("bicubic", 0.875)
    mean, std = (np.asarray(cfg[k], np.float32)[:, None, None] for k in ("mean", "std"))
    for name, photo in _photos().items():
        for size, interp, crop in [((224, 224), "bicubic", 0.875), ((260, 260), "bilinear", 0.9),
                                   ((240, 200), "bicubic", 1.0)]:
            ref = create_transform(**dict(cfg, input_size=(3, *size), interpolation=interp, crop_pct=crop))(
                Image.fromarray(photo)).numpy()
            pre = Preprocess(input_size=[3, *size], mean=list(cfg["mean"]), std=list(cfg["std"]),
                             interpolation=interp, crop_pct=crop)
            ours = (to_float(photo, pre.resize) - mean) / std
            assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1e-6, (name, size, interp, crop)


def test_a_large_photo_does_not_alias():
    """A 4000x3000 one-pixel checkerboard brought to 224: averaged to grey, as it must be; a resize that samples
    (no antialias) keeps a strong pattern, which is what this test would see if antialiasing were lost."""
    yy, xx = np.mgrid[:3000, :4000]
    board = (((yy + xx) % 2) * 255).astype(np.uint8)
    for interp in ("bilinear", "bicubic"):
        out = resize_crop(board, Resize((224, 224), interp, 0.875))
        assert out.shape == (224, 224, 1)
        assert abs(out.mean() - 0.5) < 0.01 and out.std() < 0.01, interp
    aliased = F.interpolate(torch.from_numpy(board[None, None] / 255.0), size=(256, 341), mode="bilinear",
                            antialias=False, align_corners=False)
    assert aliased.std() > 0.1  # measured 0.17: a moire of the board


def test_the_demo_32px_path_is_unchanged():
    """8x8 digits to 32x32 bilinear at crop 1.0 (the zoo's card): the float half-pixel kernel of earlier releases,
    bit for bit, which is torch's bilinear interpolate; identity when the size already matches."""
    from sklearn.datasets import load_digits

    digits = (load_digits().images[:20] * 255 / 16).astype(np.uint8)
    for a in digits:
        got = to_float(a, (32, 32))
        assert np.array_equal(got[0], resize_bilinear(a.astype(np.float32)[:, :, None] / np.float32(255.0),
                                                      (32, 32))[:, :, 0])
        ref = F.interpolate(torch.from_numpy(a[None, None].astype(np.float32) / 255), size=(32, 32),
                            mode="bilinear", align_corners=False)[0].numpy()
        assert np.abs(got - ref).max() < 1e-6
    assert np.array_equal(to_float(np.full((32, 32), 7, np.uint8), (32, 32)), np.full((1, 32, 32), 7 / 255, np.float32))


def test_centre_crop_geometry_matches_torchvision():
    spec = Resize((224, 224), "bicubic", 0.875)  # scale 256: shorter side to 256, long side int(256 * long / short)
    assert spec.plan(3000, 4000) == ((256, 341), (16, 58))
    assert spec.plan(4000, 3000) == ((341, 256), (58, 16))
    assert Resize((32, 32), crop_mode="squash").plan(10, 50) == ((32, 32), (0, 0))
    with pytest.raises(ValueError, match="crop_mode"):
        Resize((32, 32), crop_mode="border")
    assert resize_crop(np.zeros((10, 10, 3), np.uint8), Resize((16, 16), "bicubic", 1.0)).shape == (16, 16, 3)


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory) -> list[Path]:
    """Six JPEG photos of different sizes and aspect ratios (crops of sklearn's sample photos)."""
    root = tmp_path_factory.mktemp("photos")
    out = []
    for k, (name, a) in enumerate(_photos().items()):
        for j, (t, l, h, w) in enumerate([(0, 0, 427, 640), (40, 100, 300, 220), (10, 300, 120, 330)]):
            p = root / f"{k}-{j}.jpg"
            Image.fromarray(np.ascontiguousarray(a[t: t + h, l: l + w])).save(p, quality=90)
            out.append(p)
    return out


@pytest.mark.parametrize("preprocess", ["float", "in_graph"])
def test_train_and_serve_see_the_same_input_through_onnx(photo_files, tmp_path: Path, preprocess: str):
    """The training path (ImageDataset with the card's resize, torch) and the serving path (``graftline predict``'s
    model_input, onnxruntime) give the same logits on photo files, with a bicubic crop-0.875 card."""
    from graftline.data.dataset import ImageDataset
    from graftline.eval.logits import predict_logits
    from graftline.export.metadata import describe, finish
    from graftline.export.onnx import InGraph, export_onnx
    from graftline.models.runtime import metadata, model_input, session
    from graftline.models import weights
    from graftline.models.card import Lineage, ModelCard, Preprocess

    torch.manual_seed(0)
    model = weights.create("test_resnet", 5, 3).eval()
    card = describe(ModelCard(architecture="test_resnet", num_classes=5, in_chans=3, lineage=Lineage(source="t"),
                              preprocess=Preprocess(input_size=[3, 64, 64], mean=[0.5, 0.4, 0.3], std=[0.2, 0.3, 0.25],
                                                    interpolation="bicubic", crop_pct=0.875, color_mode="rgb")),
                    preprocess)
    data = ImageDataset(photo_files[0].parent, [p.name for p in photo_files], torch.zeros(len(photo_files)), 3,
                        card.preprocess.resize, color_mode="rgb")
    ref = predict_logits(model, data, card.preprocess.mean, card.preprocess.std).numpy()
    in_graph = preprocess == "in_graph"
    module = InGraph(model, card.preprocess.mean, card.preprocess.std).eval() if in_graph else model
    example = torch.zeros(2, 64, 64, 3, dtype=torch.uint8) if in_graph else torch.zeros(2, 3, 64, 64)
    export_onnx(module, example, tmp_path / "m.onnx", 18, card.export.input_name, tuple(card.export.outputs))
    finish(tmp_path / "m.onnx", card)
    sess = session(tmp_path / "m.onnx")
    served = metadata(sess)
    assert served.preprocess.resize == card.preprocess.resize
    got = sess.run(["logits"], {card.export.input_name: model_input(photo_files, served)})[0]
    # uint8 in the graph loses nothing here: downscaled pixels are whole grey levels (PIL resizes uint8)
    assert np.abs(got - ref).max() < 1e-4 and (got.argmax(1) == ref.argmax(1)).all()
    assert load_image(photo_files[0], 3, card.preprocess.resize, "rgb").shape == (3, 64, 64)
