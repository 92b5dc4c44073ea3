"""The embedded default is made the way the target was made (UCI optdigits), so that transfer can help."""

from pathlib import Path

import numpy as np
from PIL import Image

from graftline.data import demo


def test_optdigits_encoding():
    full = np.ones((50, 20), bool)  # a filled bar: taller than wide, scaled to fill the height
    enc = demo.optdigits_encode(full)
    assert enc.shape == (8, 8) and enc.dtype == np.uint8
    assert enc.max() == 16 and enc.min() == 0
    assert (enc[:, 3:5] == 16).all()  # the centre columns are fully on
    assert demo.optdigits_encode(np.zeros((10, 10), bool)).sum() == 0


def test_rendered_digits_look_like_the_target():
    from sklearn.datasets import load_digits

    x, y = demo.render_digits(per_class=20, seed=0)
    target = load_digits().images
    assert x.shape == (200, 8, 8) and set(np.unique(y)) == set(range(10))
    assert x.max() <= 16
    # Same representation: ink fraction and mean intensity within a few points of the real digits.
    assert abs((x > 0).mean() - (target > 0).mean()) < 0.12
    assert abs(x.mean() - target.mean()) < 1.5


def test_generate_writes_an_ordinary_image_folder(tmp_path: Path):
    # 5 letters per class, not the default 400: rendering 26 x 400 letters was most of this test's time
    s = demo.generate(tmp_path / "demo", per_class=5, eval_fraction=0.2, seed=0, letters_per_class=5)
    assert s["target_images"] == 1797
    classes = sorted(p.name for p in (tmp_path / "demo/digits").iterdir())
    assert classes == [str(d) for d in range(10)]
    img = Image.open(next((tmp_path / "demo/digits/3").glob("*.png")))
    assert img.size == (8, 8) and img.mode == "L"
    with np.load(tmp_path / "demo/sources/digits.npz") as z:
        assert set(z["split"]) == {"train", "eval"} and len(z["y"]) == 50
    with np.load(tmp_path / "demo/sources/letters.npz") as z:
        assert len(z["y"]) == 26 * 5 and list(z["classes"])[:2] == ["A", "B"]
    with np.load(tmp_path / "demo/sources/random_labels.npz") as z1, np.load(tmp_path / "demo/sources/digits.npz") as z2:
        assert (z1["x"] == z2["x"]).all() and not (z1["y"] == z2["y"]).all()


def test_rendering_does_not_depend_on_the_number_of_processes():
    a, ya = demo.render_digits(per_class=100, seed=3, processes=1)
    b, yb = demo.render_digits(per_class=100, seed=3, processes=2)
    assert (a == b).all() and (ya == yb).all()
