"""The bad-input corpus: one case per kind of broken data, each run through the real CLI (prepare, then validate).

Every case must exit non-zero, name the offending file (or class) and the rule it breaks, and leave an existing
``data/prepared`` byte-for-byte as it was. The CLI runs in-process (``graftline.cli.main``) so that GX is imported
once for the whole corpus; it is the same code path as the console script.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_params
from tests.helpers import BASE, make_images, run, smooth


def snapshot(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def accepted(tmp_path_factory) -> Path:
    """A data/prepared accepted earlier: every case starts from a copy and must leave it untouched."""
    proj = tmp_path_factory.mktemp("accepted")
    make_images(proj / "images", seed=500)
    write_params(proj, BASE)
    from graftline.config import load_params
    from graftline.data.prepare import run_prepare
    from graftline.validate.suite import run_validate

    params = load_params(proj / "params.yaml")
    run_prepare(params.data, proj, proj / "data/staged", progress=False)
    run_validate(params.validate_, proj / "data/staged", proj, proj / "reports/validation.json",
                 publish_to=proj / "data/prepared")
    return proj / "data/prepared"


def csv(root: Path, lines: list[str], name: str = "labels.csv", encoding: str = "utf-8") -> dict:
    (root / name).write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return {"data": {"source": "csv", "root": f"images/{name}"}}


def with_splits(root: Path, extra: list[str] = (), drop: tuple = ()) -> list[str]:
    """CSV lines giving every base image a split (2 train, 2 val, 2 test per class), plus ``extra`` rows."""
    lines = ["path,label,split"]
    for c in ("cat", "dog"):
        for i in range(6):
            line = f"{c}/{i}.png,{c},{('train', 'train', 'val', 'val', 'test', 'test')[i]}"
            if line not in drop:
                lines.append(line)
    return lines + list(extra)


def truncated(root: Path, name: str, fmt: str) -> None:
    buf = root / name
    smooth(7, 64, "RGB").save(buf, format=fmt)
    data = buf.read_bytes()
    buf.write_bytes(data[: len(data) // 2])


# Each case: (id, build(images_root) -> params overrides, fragments the message must contain: file, rule).
def c_zero_byte(r):
    (r / "cat/zero.png").write_bytes(b"")
    return {}, ["cat/zero.png", "decodable"]


def c_truncated_png(r):
    truncated(r, "cat/trunc.png", "PNG")
    return {}, ["cat/trunc.png", "decodable"]


def c_truncated_jpeg(r):
    truncated(r, "dog/trunc.jpg", "JPEG")
    return {}, ["dog/trunc.jpg", "decodable"]


def c_random_bytes_png(r):
    (r / "cat/noise.png").write_bytes(np.random.default_rng(0).bytes(3000))
    return {}, ["cat/noise.png", "decodable"]


def c_text_as_jpg(r):
    (r / "dog/notes.jpg").write_text("this is not a picture\n")
    return {}, ["dog/notes.jpg", "decodable"]


def c_decompression_bomb(r):
    Image.new("L", (1500, 1000)).save(r / "cat/bomb.png")  # 1.5 Mpx in a file of a few KB
    return {"data": {"max_pixels": 1_000_000}}, ["cat/bomb.png", "decodable", "decompression-bomb guard"]


def c_one_by_one(r):
    Image.new("L", (1, 1), 128).save(r / "cat/dot.png")
    return {}, ["cat/dot.png", "width_in_bounds", "1x1"]


def c_huge_dimension(r):
    Image.new("L", (9000, 2), 10).save(r / "dog/strip.png")
    return {}, ["dog/strip.png", "width_in_bounds", "9000x2"]


def c_unknown_label(r):
    make_images(r, classes=("bird",), seed=900)
    return {"validate": {"classes": ["cat", "dog"]}}, ["bird/0.png", "label_in_classes", "'bird'"]


def c_label_case(r):
    make_images(r, classes=("Cat",), seed=901)
    return {}, ["Cat", "labels_distinct", "cat/"]


def c_label_whitespace(r):
    make_images(r, classes=("dog ",), seed=902)
    return {}, ["'dog '", "labels_distinct"]


def c_csv_missing_file(r):
    return csv(r, ["path,label", "cat/0.png,cat", "cat/nope.png,cat"]), ["labels.csv:3", "file_exists", "nope.png"]


def c_dotdot(r):
    smooth(3).save(r.parent / "outside.png")
    return csv(r, ["path,label", "cat/0.png,cat", "../outside.png,cat"]), ["labels.csv:3", "paths_inside_root",
                                                                         "../outside.png"]


def c_absolute(r):
    return csv(r, ["path,label", f"{(r / 'cat/0.png').resolve()},cat"]), ["labels.csv:2", "paths_inside_root",
                                                                          "absolute"]


def c_symlink_escape(r):
    smooth(4).save(r.parent / "secret.png")
    (r / "cat/link.png").symlink_to(r.parent / "secret.png")
    return {}, ["cat/link.png", "paths_inside_root", "symlink"]


def c_csv_symlink_escape(r):
    smooth(5).save(r.parent / "secret2.png")
    (r / "dog/link2.png").symlink_to(r.parent / "secret2.png")
    return csv(r, ["path,label", "dog/link2.png,dog"]), ["dog/link2.png", "paths_inside_root", "labels.csv:2"]


def c_duplicate_row(r):
    return csv(r, ["path,label", "cat/0.png,cat", "cat/1.png,cat", "cat/0.png,cat"]), ["cat/0.png", "unique_paths"]


def c_leak_train_test(r):
    shutil.copy(r / "cat/0.png", r / "cat/copy.png")
    return csv(r, with_splits(r, ["cat/copy.png,cat,test"])), ["cat/copy.png", "cat/0.png",
                                                               "no_exact_duplicate_across_splits"]


def c_same_image_two_labels(r):
    shutil.copy(r / "cat/3.png", r / "dog/also_a_dog.png")
    return {}, ["dog/also_a_dog.png", "cat/3.png", "one_label_per_image"]


def c_near_duplicate(r):
    with Image.open(r / "dog/0.png") as im:
        im.convert("RGB").resize((48, 48), Image.BICUBIC).save(r / "dog/resized.jpg", quality=85)
    return csv(r, with_splits(r, ["dog/resized.jpg,dog,test"])), ["dog/resized.jpg", "dog/0.png",
                                                                  "no_near_duplicate_across_splits"]


def c_class_without_train(r):
    lines = with_splits(r, drop=("dog/0.png,dog,train", "dog/1.png,dog,train"))
    return csv(r, lines), ["class 'dog'", "'train'", "classes_in_every_split"]


def c_empty_dataset(r):
    for c in ("cat", "dog"):
        shutil.rmtree(r / c)
        (r / c).mkdir()
    (r / "cat/readme.txt").write_text("no images yet")
    return {}, ["images", "not_empty"]


def c_csv_missing_column(r):
    return csv(r, ["path", "cat/0.png"]), ["labels.csv", "columns", "missing label"]


def c_csv_misspelled_column(r):
    return csv(r, ["path,lable", "cat/0.png,cat"]), ["labels.csv", "columns", "did you mean 'label'"]


def c_empty_label(r):
    return csv(r, ["path,label", "cat/0.png,cat", "cat/1.png,"]), ["labels.csv:3", "label_not_empty", "cat/1.png"]


def c_unknown_split(r):
    return csv(r, ["path,label,split", "cat/0.png,cat,holdout"]), ["labels.csv:2", "split_names", "holdout"]


def c_csv_not_utf8(r):
    return csv(r, ["path,label", "cat/0.png,chat_noir_\u00e9"], encoding="latin-1"), ["labels.csv", "manifest_format",
                                                                                       "UTF-8"]


def c_too_few_per_class(r):
    return {"validate": {"min_images_per_class": 3}}, ["class 'cat'", "min_images_per_class"]


def c_mode_not_allowed(r):
    smooth(8, 32, "RGB").convert("CMYK").save(r / "cat/print.jpg")
    return {"validate": {"allowed_modes": ["L", "RGB"]}}, ["cat/print.jpg", "allowed_modes", "CMYK"]


def c_too_many_rows(r):
    return {"validate": {"max_rows": 8}}, ["row_count_in_bounds", "observed 12"]


def c_imbalance_as_error(r):
    make_images(r, classes=("cat",), per_class=30, seed=700)  # 30 cat images on top of the 6
    return ({"validate": {"max_class_imbalance": 3, "severity": {"class_imbalance": "error"}}},
            ["class 'dog'", "class_imbalance"])


def c_undecodable_file_name(r):
    smooth(11).save(os.fsencode(r / "cat") + b"/caf\xe9.png")  # a Latin-1 name copied from an old archive
    return {}, ["cat/caf\\xe9.png", "file_names", "Rename it"]


def c_control_character_in_name(r):
    smooth(12).save(r / "dog" / "two\rlines.png")  # a CR would split the manifest's row
    return {}, ["two\\rlines.png", "file_names", "control character"]


def c_jpeg_without_end_marker(r):
    smooth(13, 64, "RGB").save(r / "cat/cut.jpg", quality=90)
    data = (r / "cat/cut.jpg").read_bytes()
    (r / "cat/cut.jpg").write_bytes(data[:-2])  # only the EOI marker missing: PIL would show a partial image
    return {}, ["cat/cut.jpg", "decodable", "truncated"]


def c_png_bad_crc(r):
    smooth(14).save(r / "dog/crc.png")
    data = bytearray((r / "dog/crc.png").read_bytes())
    at = data.find(b"IEND") - 5  # the last byte of the IDAT chunk's CRC: the pixels themselves are intact
    data[at] ^= 0xFF
    (r / "dog/crc.png").write_bytes(bytes(data))
    return {}, ["dog/crc.png", "decodable", "CRC mismatch"]


def c_csv_conflicting_labels(r):
    return csv(r, ["path,label", "cat/0.png,cat", "cat/1.png,cat", "cat/0.png,dog"]), ["cat/0.png", "unique_paths",
                                                                                      "entries 1 and 3"]


def c_tall_strip(r):
    Image.new("L", (8, 9000), 10).save(r / "cat/tall.png")
    return {}, ["cat/tall.png", "height_in_bounds", "8x9000"]


def c_duplicate_within_split_as_error(r):
    shutil.copy(r / "dog/2.png", r / "dog/again.png")
    return {"validate": {"severity": {"no_duplicate_within_split": "error"}}}, ["dog/again.png",
                                                                               "no_duplicate_within_split"]


def c_drift_as_error(r):
    import json

    ref = {"images": 100, "features": {"width": {"kind": "numeric", "edges": [100.0], "shares": [0.0, 1.0],
                                                 "mean": 200.0}}}  # the reference's images were all > 100 wide
    (r.parent / "reference_profile.json").write_text(json.dumps(ref))
    return ({"validate": {"reference_profile": "reference_profile.json", "severity": {"drift": "error"}}},
            ["drift", "width"])


def c_data_root_not_a_folder(r):
    (r.parent / "images.txt").write_text("not a folder")
    return {"data": {"root": "images.txt"}}, ["images.txt", "data_root"]


CASES = [f for name, f in sorted(globals().items()) if name.startswith("c_")]


@pytest.mark.parametrize("build", CASES, ids=[f.__name__[2:] for f in CASES])
def test_bad_input_is_rejected_and_prepared_data_untouched(build, tmp_path: Path, accepted: Path, capsys):
    proj = tmp_path / "proj"
    images = make_images(proj / "images")
    shutil.copytree(accepted, proj / "data/prepared")
    before = snapshot(proj / "data/prepared")
    overrides, fragments = build(images)
    from tests.conftest import deep_update

    write_params(proj, deep_update(BASE, overrides))
    code, out = run(proj, "prepare", capsys=capsys)
    if code == 0:
        code, out = run(proj, "validate", capsys=capsys)
        assert (proj / "reports/validation.json").is_file()  # the user can read why
        assert (proj / "reports/validation.html").is_file()
    assert code != 0, out
    for frag in fragments:
        assert frag in out, f"{frag!r} not in:\n{out}"
    assert "rule" in out and "Traceback" not in out
    assert snapshot(proj / "data/prepared") == before


def test_every_rule_is_hit_by_a_case(tmp_path: Path):
    """The corpus covers every rule: each name passed to ``reject(...)`` in the data layer and each validation rule
    (``RuleSeverities``) is the rule of at least one case, and no case names a rule that does not exist."""
    import re

    from graftline.config.sections import RuleSeverities

    src = Path(__file__).resolve().parents[2] / "src/graftline/data"
    rejected = {m for f in src.glob("*.py") for m in re.findall(r'reject\([^,]+,\s*"(\w+)"', f.read_text())}
    rules = rejected | set(RuleSeverities.model_fields)
    hit = set()
    for i, case in enumerate(CASES):  # built for real (cheap: a few small files each) to read its fragments
        hit |= {frag for frag in case(make_images(tmp_path / str(i) / "images"))[1] if frag in rules}
    assert len(rejected) >= 10 and hit == rules, f"not hit: {sorted(rules - hit)}"


# Odd but valid input: accepted, and handled the way a user relies on. Each: (id, build(images_root) -> (params
# overrides, check(rows by path, classes, images_root))).
def manifest_of(proj: Path) -> tuple[dict, list[str]]:
    from graftline.data.manifest import read_manifest

    rows, classes, _ = read_manifest(proj / "data/prepared")
    return {r.path: r for r in rows}, classes


def a_multi_frame_gif(r):
    frames = [Image.fromarray(np.full((20, 30), v, np.uint8)) for v in (10, 200, 90)]
    frames[0].save(r / "cat/anim.gif", save_all=True, append_images=frames[1:])

    def check(rows, classes, r):
        from graftline.data.images import decode
        assert (rows["cat/anim.gif"].width, rows["cat/anim.gif"].height) == (30, 20)
        assert int(decode(r / "cat/anim.gif", 1).mean()) == 10  # the first frame, not the last
    return {}, check


def a_multi_page_tiff(r):
    pages = [Image.fromarray(np.full((16, 24), v, np.uint8)) for v in (40, 250)]
    pages[0].save(r / "dog/pages.tif", save_all=True, append_images=pages[1:])
    return {}, lambda rows, classes, r: (rows["dog/pages.tif"].width, rows["dog/pages.tif"].height) == (24, 16) or \
        pytest.fail("first page's size")


def a_exif_rotated_photo(r):
    im = smooth(21, 64, "RGB").crop((0, 0, 64, 40))  # stored 64x40, EXIF orientation 6: shown 40x64
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(r / "cat/phone.jpg", exif=exif, quality=95)
    im.transpose(Image.Transpose.ROTATE_270).save(r.parent / "upright.png")

    def check(rows, classes, r):
        from graftline.data.images import load_image
        assert (rows["cat/phone.jpg"].width, rows["cat/phone.jpg"].height) == (40, 64)
        served = load_image(r / "cat/phone.jpg", 3, (32, 32))  # the one path training and predict share
        upright = load_image(r.parent / "upright.png", 3, (32, 32))
        assert np.abs(served - upright).mean() < 0.03  # the same orientation (JPEG noise aside)
    return {}, check


def a_sixteen_bit(r):
    ramp = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)  # up to 61k of 65535
    Image.fromarray(ramp).save(r / "dog/deep.png")

    def check(rows, classes, r):
        from graftline.data.images import decode
        assert rows["dog/deep.png"].mode.startswith("I")
        a = decode(r / "dog/deep.png", 1)
        assert 100 < a.mean() < 140 and a.max() < 255  # scaled, not saturated to white
    return {}, check


def a_cmyk(r):
    smooth(22, 32, "RGB").convert("CMYK").save(r / "cat/print.jpg")
    return {}, lambda rows, classes, r: rows["cat/print.jpg"].mode == "CMYK" or pytest.fail("CMYK")


def a_palette_with_transparency(r):
    a = np.zeros((16, 16), np.uint8)
    a[4:12, 4:12] = 1
    im = Image.fromarray(a, "P")
    im.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    im.save(r / "dog/sticker.png", transparency=0)  # index 0 (black) is transparent: it must read as paper

    def check(rows, classes, r):
        from graftline.data.images import decode
        px = decode(r / "dog/sticker.png", 3)
        assert (px[0, 0] == 255).all() and tuple(px[8, 8]) == (200, 30, 30)
    return {}, check


def a_extreme_aspect_ratio(r):
    Image.new("L", (4000, 4), 90).save(r / "cat/banner.png")
    return {}, lambda rows, classes, r: rows["cat/banner.png"].width == 4000 or pytest.fail("banner")


def a_system_files_in_class_folders(r):
    for junk in ("cat/.DS_Store", "cat/Thumbs.db", "dog/desktop.ini", "dog/._0.png", "cat/.hidden.png"):
        (r / junk).write_bytes(b"\x00\x05\x16\x07 not an image")

    def check(rows, classes, r):
        assert len(rows) == 12 and classes == ["cat", "dog"]
    return {}, check


def a_odd_class_names(r):
    names = ("my cat", "café", "v1.2", "猫")
    make_images(r, classes=names, seed=950)

    def check(rows, classes, r):
        assert classes == sorted(["cat", "dog", *names])
        assert {rows[f"{n}/0.png"].label for n in names} == set(names)
    return {}, check


def a_directory_named_like_an_image(r):
    (r / "cat/album.png").mkdir()
    smooth(23).save(r / "cat/album.png/inside.png")
    return {}, lambda rows, classes, r: "cat/album.png/inside.png" in rows or pytest.fail("not scanned")


def a_csv_with_bom_and_crlf(r):
    lines = [f"{c}/{i}.png,{c}" for c in ("cat", "dog") for i in range(6)]
    (r / "labels.csv").write_bytes(("\ufeffpath,label\r\n" + "\r\n".join(lines) + "\r\n").encode())

    def check(rows, classes, r):
        assert classes == ["cat", "dog"] and len(rows) == 12  # no "\r" in a label, no BOM in the header
    return {"data": {"source": "csv", "root": "images/labels.csv"}}, check


ACCEPTED = [f for name, f in sorted(globals().items()) if name.startswith("a_") and callable(f)]


@pytest.mark.parametrize("build", ACCEPTED, ids=[f.__name__[2:] for f in ACCEPTED])
def test_odd_input_is_accepted_and_handled(build, tmp_path: Path):
    from PIL import ImageFile

    from tests.conftest import deep_update

    proj = tmp_path / "proj"
    images = make_images(proj / "images")
    overrides, check = build(images)
    write_params(proj, deep_update(BASE, overrides))
    pil_guard = Image.MAX_IMAGE_PIXELS
    for stage in ("prepare", "validate"):
        code, out = run(proj, stage)
        assert code == 0 and "Traceback" not in out, out
    rows, classes = manifest_of(proj)
    check(rows, classes, images)
    # graftline's pixel bound is its own: the process keeps PIL's guard, and truncated files stay errors.
    assert Image.MAX_IMAGE_PIXELS == pil_guard and ImageFile.LOAD_TRUNCATED_IMAGES is False
