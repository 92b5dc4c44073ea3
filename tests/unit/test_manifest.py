"""prepare: folder/CSV -> manifest; bad inputs are rejected before anything is written."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graftline.config import DataParams
from graftline.data.manifest import SPLITS, read_manifest
from graftline.data.sources import read_csv, scan_folder
from graftline.data.splits import assign_splits
from graftline.data.prepare import run_prepare
from graftline.errors import DataError
from tests.helpers import make_folder


def params(root: str, **kw) -> DataParams:
    base = dict(source="folder", root=root, val_fraction=0.25, test_fraction=0.25, train_per_class=None,
                val_per_class=None)
    return DataParams(**{**base, **kw})


def test_folder_to_manifest(tmp_path: Path):
    make_folder(tmp_path / "imgs")
    (tmp_path / "imgs" / "cat" / "notes.txt").write_text("not an image")
    meta = run_prepare(params("imgs"), tmp_path, tmp_path / "data/prepared")
    rows, classes, m = read_manifest(tmp_path / "data/prepared")
    assert classes == ["cat", "dog"] and len(rows) == 24 == meta.images
    assert {r.split for r in rows} == {"train", "val", "test"}
    r = rows[0]
    assert r.width == 12 and r.height == 10 and r.mode == "L" and len(r.sha256) == 64
    assert not Path(r.path).is_absolute() and r.path.split("/")[0] in classes
    for c in classes:  # stratified: every class in every split
        assert {x.split for x in rows if x.label == c} == {"train", "val", "test"}
    assert m["data_hash"] == meta.data_hash


def test_split_is_seeded_and_caps_training_labels(tmp_path: Path):
    make_folder(tmp_path / "imgs", per_class=20)
    a = run_prepare(params("imgs", train_per_class=3, seed=1), tmp_path, tmp_path / "a")
    b = run_prepare(params("imgs", train_per_class=3, seed=1), tmp_path, tmp_path / "b")
    assert a.data_hash == b.data_hash
    rows, _, _ = read_manifest(tmp_path / "a")
    assert sum(r.split == "train" and r.label == "cat" for r in rows) == 3
    c = run_prepare(params("imgs", train_per_class=3, seed=2), tmp_path, tmp_path / "c")
    assert c.data_hash != a.data_hash


def test_identical_images_stay_in_one_split():
    content = np.arange(40) // 4  # groups of 4 copies
    split, kept = assign_splits(np.zeros(40, np.int32), np.full(40, -1, np.int8), content, val_fraction=0.3,
                                test_fraction=0.3, seed=0, train_per_class=None, val_per_class=None)
    assert kept.all()
    assert all(len(set(split[content == c])) == 1 for c in range(10))
    assert set(split) == {0, 1, 2}  # train, val, test


def test_copy_of_a_given_split_takes_it_and_caps_draw_from_eligible_rows():
    label = np.array([0, 0, 0, 0, 1, 1, 1, 1], np.int32)
    given = np.array([-1, 2, -1, -1, -1, -1, -1, -1], np.int8)
    content = np.array([7, 7, 1, 2, 3, 4, 5, 6])  # row 0 is a copy of row 1, given "test"
    eligible = np.array([True, True, True, False, True, True, True, True])
    split, kept = assign_splits(label, given, content, val_fraction=0.0, test_fraction=0.2, seed=0,
                                train_per_class=1, val_per_class=None, eligible=eligible)
    assert split[0] == split[1] == SPLITS.index("test")
    assert kept[[0, 1]].all() and not kept[3]
    for c in (0, 1):
        assert (kept & (split == SPLITS.index("train")) & (label == c)).sum() == 1


def write_csv(path: Path, rows, header=("path", "label")):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize("rows, header, fragment", [
    ([["../outside.png", "cat"]], ("path", "label"), "escapes the data root"),
    ([["/etc/passwd", "cat"]], ("path", "label"), "is absolute"),
    ([["cat/missing.png", "cat"]], ("path", "label"), "does not exist"),
    ([["cat/0.png", ""]], ("path", "label"), "empty label"),
    ([["cat/0.png"]], ("path",), "missing label"),
    ([["cat/0.png", "cat", "x"]], ("path", "label", "lable"), "unknown 'lable' (did you mean 'label'?)"),
    ([["cat/0.png", "cat", "holdout"]], ("path", "label", "split"), "is not one of train, val, test"),
])
def test_csv_rejections_name_the_line(tmp_path: Path, rows, header, fragment):
    make_folder(tmp_path / "d", per_class=2)
    path = write_csv(tmp_path / "d" / "labels.csv", rows, header)
    with pytest.raises(DataError) as err:
        read_csv(path)
    assert fragment in str(err.value) and "labels.csv" in str(err.value)


def test_csv_with_bom_and_given_splits(tmp_path: Path):
    make_folder(tmp_path / "d", per_class=3)
    p = tmp_path / "d" / "m.csv"
    p.write_text("\ufeffpath,label,split\ncat/0.png,cat,train\ncat/1.png,cat,test\ndog/0.png,dog,val\n", encoding="utf-8")
    images = read_csv(p)
    assert [SPLITS[s] for s in images.split] == ["train", "test", "val"]
    assert images.paths.tolist() == ["cat/0.png", "cat/1.png", "dog/0.png"] and images.classes == ["cat", "dog"]
    assert images.label.tolist() == [0, 0, 1]


def test_symlink_escaping_root_rejected(tmp_path: Path):
    make_folder(tmp_path / "imgs", per_class=2)
    outside = tmp_path / "secret.png"
    Image.new("L", (8, 8)).save(outside)
    (tmp_path / "imgs" / "cat" / "link.png").symlink_to(outside)
    with pytest.raises(DataError, match="symlink that points outside the data root"):
        scan_folder(tmp_path / "imgs")


def test_failed_prepare_leaves_previous_output_untouched(tmp_path: Path):
    make_folder(tmp_path / "imgs")
    run_prepare(params("imgs"), tmp_path, tmp_path / "data/prepared")
    before = {p.name: p.read_bytes() for p in (tmp_path / "data/prepared").iterdir()}
    write_csv(tmp_path / "imgs" / "bad.csv", [["../x.png", "cat"]])
    with pytest.raises(DataError):
        run_prepare(params("imgs/bad.csv", source="csv"), tmp_path, tmp_path / "data/prepared")
    after = {p.name: p.read_bytes() for p in (tmp_path / "data/prepared").iterdir()}
    assert before == after
    assert json.loads(after["classes.json"]) == ["cat", "dog"]


def test_empty_folder(tmp_path: Path):
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        run_prepare(params("imgs"), tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_look_alikes_join_one_split_and_nothing_else_moves():
    cols = (np.zeros(60, np.int32), np.full(60, -1, np.int8), np.arange(60))  # 60 distinct images of one class
    kw = dict(val_fraction=0.3, test_fraction=0.3, seed=0, train_per_class=None, val_per_class=None)
    base, _ = assign_splits(*cols, **kw)
    pairs = [(0, 1), (2, 3), (4, 5), (5, 6)]
    out, _ = assign_splits(*cols, together=np.array(pairs), **kw)
    for a, b in pairs:
        assert out[a] == out[b]
    moved = {i for i in range(60) if base[i] != out[i]}
    assert moved and moved <= set(range(7))  # only members of a scattered look-alike group move


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_a_csv_that_is_not_utf8_is_refused_naming_its_first_bad_byte(tmp_path: Path, chunk: int):
    from graftline.data.sources import _check_utf8

    good = ("path,label\n" + "chats/é.png,chat_€\n" * 50).encode()
    p = tmp_path / "labels.csv"
    p.write_bytes(good)
    _check_utf8(p, chunk)  # multi-byte characters split across blocks are fine
    for bad, at in ((good[:301] + b"\xe9" + good[301:], 301), (good + "é".encode()[:1], len(good))):
        p.write_bytes(bad)  # a latin-1 byte in the middle; a character cut off at the end
        with pytest.raises(DataError, match=rf"labels.csv: rule manifest_format: not UTF-8 text \(.* at byte {at}\)"):
            _check_utf8(p, chunk)


def test_adding_ten_percent_more_images_moves_no_old_image_between_splits(tmp_path: Path):
    """The demo's 1,797 real digits, then 180 more (rendered digits, 18 per class): every old image keeps its split,
    classes stay stratified near the fractions, and no look-alike group spans two splits."""
    from graftline.data import demo
    from graftline.data.dupes import near_pairs_u64

    root = tmp_path / "digits"
    demo.write_target_folder(root)
    kw = dict(val_fraction=0.2, test_fraction=0.5, near_duplicate_distance=1, workers=1)
    run_prepare(params("digits", **kw), tmp_path, tmp_path / "before")
    before = {r.path: r.split for r in read_manifest(tmp_path / "before")[0]}
    x, y = demo.render_digits(per_class=18, seed=7, processes=1)
    for i, (img, label) in enumerate(zip(demo._to_png_scale(x), y)):
        Image.fromarray(img, mode="L").save(root / str(label) / f"new-{i:03d}.png")
    run_prepare(params("digits", **kw), tmp_path, tmp_path / "after")
    rows = read_manifest(tmp_path / "after")[0]
    after = {r.path: r.split for r in rows}
    assert len(before) == 1797 and len(after) == 1797 + 180
    moved = [p for p in before if before[p] != after[p]]
    print(f"old images moved after adding 10 % more: {len(moved)} of {len(before)}")
    assert moved == []
    for c in map(str, range(10)):
        n = sum(r.label == c for r in rows)
        got = {s: sum(r.label == c and r.split == s for r in rows) / n for s in SPLITS}
        assert abs(got["test"] - 0.5) < 0.15 and abs(got["val"] - 0.2) < 0.12, (c, got)
    from graftline.data.facts import compute_facts

    facts, _ = compute_facts(root, [r.path for r in rows], max_pixels=64_000_000, color_mode="auto",
                             cache_path=tmp_path / "data/cache/facts.sqlite", workers=1, progress=False)
    idx = np.arange(len(rows))
    for i, j, _ in near_pairs_u64(facts.phash, idx, 1):
        assert rows[i].split == rows[j].split, (rows[i].path, rows[j].path)
