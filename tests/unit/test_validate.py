"""validate: a Great Expectations suite over per-image facts; failures exit 1 naming the file and the rule."""

import json
import shutil

import pytest
from pathlib import Path

from tests.conftest import cli, write_params
from tests.helpers import make_folder

FOLDER = {"data": {"source": "folder", "root": "images", "train_per_class": None, "val_per_class": None,
                   "val_fraction": 0.25, "test_fraction": 0.25}}


def test_clean_folder_passes(tmp_path: Path):
    make_folder(tmp_path / "images")
    write_params(tmp_path, FOLDER)
    cli("prepare", cwd=tmp_path, check=True)
    r = cli("validate", cwd=tmp_path, check=True)
    assert "rules passed" in r.stdout
    report = json.loads((tmp_path / "reports/validation.json").read_text())
    assert report["passed"] and all(rule["passed"] for rule in report["rules"])
    assert {rule["rule"] for rule in report["rules"]} >= {"decodable", "label_in_classes", "width_in_bounds",
                                                         "no_exact_duplicate_across_splits", "min_images_per_class"}


def test_corrupt_image_fails_validate_naming_the_file(tmp_path: Path):
    make_folder(tmp_path / "images")
    good = tmp_path / "images/dog/3.png"
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])  # truncated PNG: the header still reads, the pixels do not
    (tmp_path / "images/cat/zero.png").write_bytes(b"")
    write_params(tmp_path, FOLDER)
    cli("prepare", cwd=tmp_path, check=True)
    r = cli("validate", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "decodable" in r.stderr and "dog/3.png" in r.stderr and "cat/zero.png" in r.stderr
    assert "Traceback" not in r.stderr
    report = json.loads((tmp_path / "reports/validation.json").read_text())
    rule = next(x for x in report["rules"] if x["rule"] == "decodable")
    assert not rule["passed"] and rule["offending_count"] == 2


def test_same_image_in_two_splits_is_leakage(tmp_path: Path):
    make_folder(tmp_path / "images", per_class=4)
    shutil.copy(tmp_path / "images/cat/0.png", tmp_path / "images/cat/copy.png")
    rows = ["path,label,split", "cat/0.png,cat,train", "cat/copy.png,cat,test", "cat/1.png,cat,val",
            "dog/0.png,dog,train", "dog/1.png,dog,val", "dog/2.png,dog,test"]
    (tmp_path / "images/labels.csv").write_text("\n".join(rows) + "\n")
    write_params(tmp_path, {"data": {**FOLDER["data"], "source": "csv", "root": "images/labels.csv"}})
    cli("prepare", cwd=tmp_path, check=True)
    r = cli("validate", cwd=tmp_path)
    assert r.returncode == 1
    assert "no_exact_duplicate_across_splits" in r.stderr and "cat/copy.png" in r.stderr and "cat/0.png" in r.stderr


def test_too_few_images_in_a_split_and_size_bounds(tmp_path: Path):
    make_folder(tmp_path / "images", per_class=2, size=(3, 3))
    write_params(tmp_path, FOLDER)
    cli("prepare", cwd=tmp_path, check=True)
    r = cli("validate", cwd=tmp_path)
    assert r.returncode == 1
    assert "min_images_per_class" in r.stderr and "width_in_bounds" in r.stderr and "3x3" in r.stderr


CORRUPT = ["cat/trunc_a.png", "cat/notes.jpg", "dog/trunc_b.png", "dog/readme.jpg"]


@pytest.mark.parametrize("train_per_class", [1, 3, None])
def test_every_scanned_file_is_validated_whatever_the_subsample(tmp_path: Path, train_per_class):
    """A corrupt file is rejected whether the few-label subsample would drop it or keep it (issue 14)."""
    import pandas as pd

    make_folder(tmp_path / "images", per_class=16)
    params = {"data": {**FOLDER["data"], "train_per_class": train_per_class,
                       "val_per_class": None if train_per_class is None else 2}}
    write_params(tmp_path, params)
    cli("prepare", cwd=tmp_path, check=True)
    cli("validate", cwd=tmp_path, check=True)
    before = {p.name: p.read_bytes() for p in (tmp_path / "data/prepared").iterdir()}
    png = (tmp_path / "images/cat/0.png").read_bytes()
    for rel in CORRUPT:
        f = tmp_path / "images" / rel
        f.write_bytes(png[: len(png) // 2] if rel.endswith(".png") else b"just some notes, not a JPEG\n")
    r = cli("prepare", cwd=tmp_path, check=True)
    staged = tmp_path / "data/staged"
    facts = pd.read_csv(staged / "facts.csv", keep_default_na=False)
    manifest = pd.read_csv(staged / "manifest.csv")
    assert len(facts) == 36 and set(CORRUPT) <= set(facts["path"])  # every scanned file reaches the rules
    assert set(manifest["path"]) == set(facts.loc[facts["kept"].astype(str) == "True", "path"])
    meta = json.loads((staged / "meta.json").read_text())
    if train_per_class is not None:  # the subsample is drawn from valid rows only, and recorded
        assert not set(CORRUPT) & set(manifest["path"])
        assert meta["subsample"]["train_per_class"] == train_per_class and sum(meta["subsample"]["dropped"].values())
    else:
        assert set(CORRUPT) <= set(manifest["path"]) and meta["subsample"] is None
    r = cli("validate", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert all(rel in r.stderr for rel in CORRUPT), r.stderr
    report = json.loads((tmp_path / "reports/validation.json").read_text())
    rule = next(x for x in report["rules"] if x["rule"] == "decodable")
    assert rule["offending_count"] == 4 and report["scanned"] == 36 and report["subsample"] == meta["subsample"]
    assert {p.name: p.read_bytes() for p in (tmp_path / "data/prepared").iterdir()} == before


def test_subsample_of_own_images_warns(tmp_path: Path, caplog):
    make_folder(tmp_path / "images", per_class=16)
    write_params(tmp_path, {"data": {**FOLDER["data"], "train_per_class": 3, "val_per_class": 5}})
    with caplog.at_level("WARNING"):
        cli("prepare", cwd=tmp_path, check=True)
    assert any("train_per_class: null" in rec.getMessage() for rec in caplog.records)
