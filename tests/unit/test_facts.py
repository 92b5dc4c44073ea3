"""Facts are cached by content and computed in parallel; splits keep copies together; drift; the offline report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from graftline.config import DataParams
from graftline.data.prepare import run_prepare
from graftline.data.dupes import near_pairs
from graftline.data.facts import compute_facts
from tests.conftest import deep_update, write_params
from tests.helpers import BASE, make_images, run, smooth


def data_params(**kw) -> DataParams:
    return DataParams(**{**BASE["data"], **kw})


def test_cache_decodes_only_new_images(tmp_path: Path):
    make_images(tmp_path / "images", per_class=10)
    first = run_prepare(data_params(), tmp_path, tmp_path / "data/staged", progress=False)
    assert first.facts == {"decoded": 20, "cached": 0}
    again = run_prepare(data_params(), tmp_path, tmp_path / "data/staged", progress=False)
    assert again.facts == {"decoded": 0, "cached": 20} and again.data_hash == first.data_hash
    smooth(9001).save(tmp_path / "images/cat/new1.png")
    smooth(9002).save(tmp_path / "images/dog/new2.png")
    shutil.copy(tmp_path / "images/cat/0.png", tmp_path / "images/cat/renamed.png")  # known bytes: no decode
    more = run_prepare(data_params(), tmp_path, tmp_path / "data/staged", progress=False)
    assert more.facts == {"decoded": 2, "cached": 20}
    # a different decode policy is a different fact: nothing is reused across policies
    other = run_prepare(data_params(color_mode="rgb"), tmp_path, tmp_path / "data/staged", progress=False)
    assert other.facts["decoded"] == 22


def test_parallel_facts_equal_serial(tmp_path: Path):
    make_images(tmp_path / "images", per_class=150)  # 300 >= the size at which workers start
    paths = sorted(p.relative_to(tmp_path / "images").as_posix() for p in (tmp_path / "images").rglob("*.png"))
    (tmp_path / "images/cat/0.png").write_bytes(b"broken")
    kw = dict(max_pixels=10_000_000, color_mode="auto", cache_path=None, progress=False)
    serial, s1 = compute_facts(tmp_path / "images", paths, workers=1, **kw)
    parallel, s2 = compute_facts(tmp_path / "images", paths, workers=2, **kw)
    serial, parallel = serial.frame(), parallel.frame()  # the rows as facts.csv holds them
    pd.testing.assert_frame_equal(serial, parallel)
    assert s1["decoded"] == s2["decoded"] == 300  # all distinct contents, the broken one included
    assert not serial.set_index("path").at["cat/0.png", "decodable"]
    assert serial["phash"].str.len().max() == 16  # 64-bit imagehash.phash


def test_near_pairs_finds_resized_copies_only():
    import io

    from PIL import Image

    a = smooth(1)
    buf = io.BytesIO()
    a.resize((48, 48)).save(buf, "JPEG", quality=80)
    import imagehash

    hashes = [str(imagehash.phash(x)) for x in (a, Image.open(buf), smooth(2), smooth(3))]
    pairs = near_pairs(hashes + [""], 4)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]


def test_identical_and_look_alike_images_stay_in_one_split_and_are_reported(tmp_path: Path, capsys):
    images = make_images(tmp_path / "images", per_class=12)
    for i in range(4):  # exact copies and a resized re-encoded copy of four images
        shutil.copy(images / f"cat/{i}.png", images / f"cat/copy{i}.png")
        with __import__("PIL").Image.open(images / f"dog/{i}.png") as im:
            im.convert("RGB").resize((48, 48)).save(images / f"dog/small{i}.jpg", quality=85)
    write_params(tmp_path, deep_update(BASE, {"data": {"near_duplicate_distance": 4},
                                              "validate": {"near_duplicate_distance": 4}}))
    assert run(tmp_path, "prepare", capsys=capsys)[0] == 0
    code, out = run(tmp_path, "validate", capsys=capsys)
    assert code == 0, out
    facts = pd.read_csv(tmp_path / "data/prepared/facts.csv").set_index("path")
    for i in range(4):
        assert facts.at[f"cat/{i}.png", "split"] == facts.at[f"cat/copy{i}.png", "split"]
        assert facts.at[f"dog/{i}.png", "split"] == facts.at[f"dog/small{i}.jpg", "split"]
    report = json.loads((tmp_path / "reports/validation.json").read_text())
    within = next(r for r in report["rules"] if r["rule"] == "no_duplicate_within_split")
    assert not within["passed"] and within["severity"] == "warn" and within["offending_count"] == 8
    assert report["warnings"] == ["no_duplicate_within_split"] and "warning: rule no_duplicate_within_split" in out


def test_drift_against_a_committed_profile(tmp_path: Path, capsys):
    make_images(tmp_path / "images", per_class=20)
    write_params(tmp_path, BASE)
    assert run(tmp_path, "prepare", capsys=capsys)[0] == 0
    assert run(tmp_path, "validate", capsys=capsys)[0] == 0
    shutil.copy(tmp_path / "reports/data_profile.json", tmp_path / "reference_profile.json")
    with_ref = deep_update(BASE, {"validate": {"reference_profile": "reference_profile.json"}})
    write_params(tmp_path, with_ref)
    assert run(tmp_path, "validate", capsys=capsys)[0] == 0  # the same data has not drifted
    report = json.loads((tmp_path / "reports/validation.json").read_text())
    same = next(r for r in report["rules"] if r["rule"] == "drift")
    assert same["passed"] and max(same["observed"]["psi"].values()) < 0.01
    # new data: brighter, larger images -> intensity and size drift (a warning by default)
    for c in ("cat", "dog"):
        shutil.rmtree(tmp_path / "images" / c)
    for ci, c in enumerate(("cat", "dog")):
        (tmp_path / "images" / c).mkdir()
        for i in range(20):
            im = smooth(5000 + 100 * ci + i, 96).point(lambda v: min(255, v // 3 + 170))
            im.save(tmp_path / "images" / c / f"{i}.png")
    assert run(tmp_path, "prepare", capsys=capsys)[0] == 0
    code, out = run(tmp_path, "validate", capsys=capsys)
    assert code == 0 and "warning: rule drift" in out
    report = json.loads((tmp_path / "reports/validation.json").read_text())
    drifted = next(r for r in report["rules"] if r["rule"] == "drift")
    psi = drifted["observed"]["psi"]
    assert not drifted["passed"] and psi["mean"] > 0.25 and psi["width"] > 0.25 and psi["class"] < 0.01
    write_params(tmp_path, deep_update(with_ref, {"validate": {"severity": {"drift": "error"}}}))
    prepared = (tmp_path / "data/prepared/manifest.csv").read_bytes()
    code, out = run(tmp_path, "validate", capsys=capsys)
    assert code == 1 and "rule drift" in out and "feature mean" in out
    assert (tmp_path / "data/prepared/manifest.csv").read_bytes() == prepared


def test_offline_html_report_embeds_thumbnails(tmp_path: Path, capsys):
    images = make_images(tmp_path / "images")
    smooth(77).resize((2, 2)).save(images / "cat/tiny.png")
    (images / "dog/broken.png").write_bytes(b"\x89PNG\r\n")
    write_params(tmp_path, BASE)
    assert run(tmp_path, "prepare", capsys=capsys)[0] == 0
    assert run(tmp_path, "validate", capsys=capsys)[0] == 1
    page = (tmp_path / "reports/validation.html").read_text()
    assert "cat/tiny.png" in page and "dog/broken.png" in page and "cannot decode" in page
    assert page.count("data:image/png;base64,") >= 2  # tiny.png under both width and height rules
    assert "http://" not in page and "https://" not in page and "<script" not in page  # offline, self-contained


def test_gx_data_docs_on_request(tmp_path: Path, capsys):
    make_images(tmp_path / "images")
    write_params(tmp_path, deep_update(BASE, {"validate": {"data_docs": True}}))
    assert run(tmp_path, "prepare", capsys=capsys)[0] == 0
    assert run(tmp_path, "validate", capsys=capsys)[0] == 0
    index = tmp_path / "reports/gx_data_docs/index.html"
    assert index.is_file() and "graftline_images" in "".join(
        p.read_text(errors="ignore") for p in (tmp_path / "reports/gx_data_docs").rglob("*.html"))
