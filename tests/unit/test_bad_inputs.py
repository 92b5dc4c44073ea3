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


def test_corpus_has_at_least_25_kinds():
    assert len(CASES) >= 25
