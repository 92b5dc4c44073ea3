"""Real-world formats are accepted and converted by the colour policy (data.color_mode), with no false alarm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from graftline.data.images import decode
from tests.conftest import deep_update, write_params
from tests.helpers import BASE, make_images, run, smooth


def exif_rotated(path: Path, seed: int) -> None:
    """A 40x20 JPEG whose EXIF says 'rotate 90 degrees': the model must see it 20 wide and 40 tall."""
    im = smooth(seed, 64, "RGB").resize((40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, exif=exif, quality=95)


def gif_two_frames(path: Path, seed: int) -> None:
    first = smooth(seed, 64, "RGB")
    second = Image.new("RGB", (64, 64), (0, 0, 255))
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)


def sixteen_bit(path: Path, seed: int) -> None:
    a = np.asarray(smooth(seed), dtype=np.uint16) * 257  # the full 16-bit range
    im = Image.fromarray(a.astype(np.uint16))
    assert im.mode == "I;16"
    im.save(path)


def palette(path: Path, seed: int) -> None:
    smooth(seed, 64, "RGB").quantize(64).save(path)


def rgba(path: Path, seed: int) -> None:
    im = smooth(seed, 64, "RGB").convert("RGBA")
    im.putalpha(Image.new("L", im.size, 200))
    im.save(path)


def cmyk(path: Path, seed: int) -> None:
    smooth(seed, 64, "RGB").convert("CMYK").save(path, quality=95)


FORMATS = {"cmyk.jpg": cmyk, "sixteen.png": sixteen_bit, "palette.png": palette, "alpha.png": rgba,
           "anim.gif": gif_two_frames, "exif.jpg": exif_rotated, "zürich_日本.png": lambda p, s: smooth(s).save(p),
           "scan.tiff": lambda p, s: smooth(s).save(p), "photo.webp": lambda p, s: smooth(s, 64, "RGB").save(
               p, lossless=True), "old.bmp": lambda p, s: smooth(s).save(p)}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Two classes, each with every format above plus plain PNGs: prepare + validate must pass with no warning."""
    proj = tmp_path_factory.mktemp("mixed")
    images = make_images(proj / "images", per_class=4, seed=300)
    for ci, c in enumerate(("cat", "dog")):
        for fi, (name, make) in enumerate(FORMATS.items()):
            make(images / c / name, 2000 + 100 * ci + fi)
    return proj


@pytest.mark.parametrize("color_mode", ["auto", "rgb", "grayscale"])
def test_every_format_accepted_without_false_alarm(mixed: Path, tmp_path: Path, color_mode: str, capsys):
    proj = tmp_path / "p"
    shutil.copytree(mixed / "images", proj / "images", symlinks=True)
    write_params(proj, deep_update(BASE, {"data": {"color_mode": color_mode}}))
    code, out = run(proj, "prepare", capsys=capsys)
    assert code == 0, out
    code, out = run(proj, "validate", capsys=capsys)
    assert code == 0, out
    report = json.loads((proj / "reports/validation.json").read_text())
    assert report["passed"] and report["warnings"] == [] and all(r["passed"] for r in report["rules"])
    facts = pd.read_csv(proj / "data/prepared/facts.csv", keep_default_na=False).set_index("path")
    assert len(facts) == 2 * (4 + len(FORMATS)) and facts["decodable"].all()
    assert facts.at["cat/exif.jpg", "width"] == 20 and facts.at["cat/exif.jpg", "height"] == 40  # EXIF honoured
    assert {facts.at["cat/cmyk.jpg", "mode"], facts.at["cat/sixteen.png", "mode"],
            facts.at["cat/palette.png", "mode"]} == {"CMYK", "I;16", "P"}
    # 16-bit is scaled, not saturated: same mean intensity as the 8-bit image it was made from (+-1)
    eight = np.asarray(smooth(2000 + 1), dtype=np.float64).mean()
    assert abs(facts.at["cat/sixteen.png", "mean"] - eight) < 1.0
    # the GIF's first frame (not the blue second one): its gray mean matches frame 0
    first = np.asarray(smooth(2000 + 4, 64, "RGB").convert("L"), dtype=np.float64).mean()
    assert abs(facts.at["cat/anim.gif", "mean"] - first) < 3.0
    assert (proj / "images/cat/zürich_日本.png").is_file() and "cat/zürich_日本.png" in facts.index


def test_decode_applies_policy_for_the_model(mixed: Path):
    img = mixed / "images/cat"
    assert decode(img / "exif.jpg", 3).shape == (40, 20, 3)
    assert decode(img / "anim.gif", 1).shape == (64, 64, 1)
    sixteen = decode(img / "sixteen.png", 1)[..., 0]
    assert abs(float(sixteen.mean()) - float(np.asarray(smooth(2001)).mean())) < 1.0  # not clipped to white
    alpha = decode(img / "alpha.png", 3).astype(int)  # alpha 200/255 over white: brighter than the source
    src = np.asarray(smooth(2003, 64, "RGB")).astype(int)
    assert (alpha >= src - 1).all() and alpha.mean() > src.mean()
    assert decode(img / "cmyk.jpg", 3).shape == (64, 64, 3)
    with pytest.raises(Exception, match="max_pixels"):
        decode(img / "old.bmp", 1, max_pixels=100)


def test_csv_with_bom_and_non_ascii_paths_accepted(mixed: Path, tmp_path: Path, capsys):
    proj = tmp_path / "p"
    shutil.copytree(mixed / "images", proj / "images")
    names = sorted(p.relative_to(proj / "images").as_posix() for p in (proj / "images").rglob("*") if p.is_file())
    lines = ["path,label"] + [f"{n},{n.split('/')[0]}" for n in names]
    (proj / "images/labels.csv").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    write_params(proj, deep_update(BASE, {"data": {"source": "csv", "root": "images/labels.csv"}}))
    assert run(proj, "prepare", capsys=capsys)[0] == 0
    code, out = run(proj, "validate", capsys=capsys)
    assert code == 0 and "warning" not in out.replace("0 warning(s)", ""), out


def test_the_pixel_bound_is_graftlines_own_and_pil_keeps_its_guard(tmp_path: Path):
    """Decoding never switches PIL's process-wide bomb guard off: after graftline decodes (under a bound below
    PIL's, and under one above it that the user asked for), ``Image.MAX_IMAGE_PIXELS`` is what it was, and a plain
    ``Image.open`` elsewhere in the process still refuses a bomb."""
    from PIL import ImageFile

    from graftline.data.images import TooManyPixels, open_image

    Image.new("L", (300, 200), 7).save(tmp_path / "big.png")
    guard = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = 10_000  # a process that is stricter than PIL's default (PIL raises above 20,000)
        assert decode(tmp_path / "big.png", 1, max_pixels=100_000).shape == (200, 300, 1)  # ours is larger
        assert Image.MAX_IMAGE_PIXELS == 10_000
        with pytest.raises(TooManyPixels, match="exceeds data.max_pixels"):
            decode(tmp_path / "big.png", 1, max_pixels=50_000)
        with pytest.raises(Image.DecompressionBombError):  # PIL's guard still works for everyone else
            Image.open(tmp_path / "big.png")
        Image.MAX_IMAGE_PIXELS = 89_478_485
        with open_image(tmp_path / "big.png", 1_000_000) as im:
            im.load()
        assert Image.MAX_IMAGE_PIXELS == 89_478_485 and ImageFile.LOAD_TRUNCATED_IMAGES is False
    finally:
        Image.MAX_IMAGE_PIXELS = guard
