"""graftline init refuses data that cannot train a classifier (exit 2, the fix in the message, nothing created), and
predict refuses an empty input instead of printing a blank line."""

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import cli
from tests.unit.test_manifest import make_folder


def _flat(root: Path, n: int = 6) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        Image.new("L", (12, 10), i * 20).save(root / f"{i}.png")
    return root


CASES = {
    "no images": (lambda p: (p.mkdir(), p)[1], ["holds no images", "Fix: point --images at a folder with one "
                                                "subfolder per class"]),
    "empty class folders": (lambda p: ((p / "cat").mkdir(parents=True), p)[1], ["holds no images"]),
    "no class folders": (_flat, ["6 images but no class folders", "0.png lies directly in it",
                                 "Fix: move the images into one subfolder per class", "--csv"]),
    "one class": (lambda p: make_folder(p, per_class=5, classes=("circle",)),
                  ["one class ('circle', 5 images)", "predicts 'circle' for everything", "Fix: add a folder"]),
    "a class too small to split": (lambda p: (make_folder(p, per_class=5, classes=("cat", "dog")),
                                              [f.unlink() for f in sorted((p / "dog").iterdir())[2:]], p)[2],
                                   ["too few images to split in class 'dog' (2)", "at least 3",
                                    "Fix: add images to those classes"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_init_refuses_data_that_cannot_work(case, tmp_path: Path):
    make, expected = CASES[case]
    images = make(tmp_path / "imgs")
    r = cli("init", str(tmp_path / "proj"), "--images", str(images), cwd=tmp_path)
    assert r.returncode == 2, (case, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for fragment in expected:
        assert fragment in r.stderr, (fragment, r.stderr)
    assert not (tmp_path / "proj").exists()  # nothing created


def test_init_refuses_a_one_class_csv(tmp_path: Path):
    images = make_folder(tmp_path / "imgs", per_class=4, classes=("cat",))
    (images / "labels.csv").write_text("path,label\n" + "".join(f"cat/{i}.png,cat\n" for i in range(4)))
    r = cli("init", str(tmp_path / "proj"), "--csv", str(images / "labels.csv"), cwd=tmp_path)
    assert r.returncode == 2 and "one class ('cat', 4 images)" in r.stderr
    assert not (tmp_path / "proj").exists()


def test_init_accepts_the_smallest_data_that_splits(tmp_path: Path):
    """Three images in each of two classes: one per split, so the check is not stricter than prepare needs."""
    from graftline.scaffold.checks import check_init_data

    found = check_init_data(make_folder(tmp_path / "imgs", per_class=3), None)
    assert found.classes == ["cat", "dog"] and len(found) == 6


def test_predict_on_an_empty_folder_is_an_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    r = cli("predict", str(tmp_path / "empty"), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert "no images to classify in" in r.stderr and "Fix:" in r.stderr


HUB_MISS = r"""
from pathlib import Path
from graftline.models.candidates import Candidate, load
from graftline.errors import ModelError
try:
    load(Candidate("hub:resnet18.a1_in1k", "hub", "resnet18.a1_in1k"), Path("."))
except ModelError as exc:
    print("ModelError:", exc)
"""


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE=1", "no network"])
def test_a_hub_candidate_missing_offline_is_one_line_not_retries(offline, tmp_path: Path):
    """Not cached and no hub: one line naming the cache folder and the fix, without huggingface_hub's retries."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_CACHE=str(tmp_path / "hub"))
    if offline == "HF_HUB_OFFLINE=1":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: nothing listens, the connection is refused
    r = subprocess.run([sys.executable, "-c", HUB_MISS], env=env, capture_output=True, text=True, timeout=120)
    (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith("ModelError:")]
    assert "candidate hub:resnet18.a1_in1k: not in the Hugging Face cache at " in line
    assert str(tmp_path / "hub" / "models--timm--resnet18.a1_in1k") in line
    assert ("HF_HUB_OFFLINE is set" if offline == "HF_HUB_OFFLINE=1" else "127.0.0.1:9 is unreachable") in line
    assert "hf download timm/resnet18.a1_in1k" in line and "file: or zoo: candidate" in line
    assert "Retrying" not in r.stdout + r.stderr


def _keys(tree, prefix=""):
    """Every key path of a params mapping (list items of mappings as key[].field)."""
    for k, v in tree.items():
        yield prefix + k
        if prefix + k == "check.looks":  # a mapping value (seed -> seed), not a section of keys
            continue
        items = v if isinstance(v, list) else [v]
        for item in items:
            if isinstance(item, dict):
                yield from _keys(item, f"{prefix}{k}{'[]' if isinstance(v, list) else ''}.")


@pytest.mark.parametrize("cached", [False, True])
def test_init_defaults_to_candidates_this_machine_has(cached, tmp_path: Path, monkeypatch):
    """No --candidate: the ImageNet defaults that are in the Hugging Face cache, else the demo zoo (never a hub:
    candidate that would fail at select); the params file names docs that exist; `graftline params` lists every
    key the file has."""
    import re

    import yaml
    from huggingface_hub import constants

    from graftline.config import load_params
    from tests.conftest import REPO

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    if cached:  # the layout huggingface_hub writes: refs/main -> snapshots/<commit>/model.safetensors
        repo = tmp_path / "hub" / "models--timm--resnet18.a1_in1k"
        (repo / "snapshots" / "c0ffee").mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("c0ffee")
        (repo / "snapshots" / "c0ffee" / "model.safetensors").write_bytes(b"")
    images = make_folder(tmp_path / "imgs", per_class=4)
    r = cli("init", str(tmp_path / "proj"), "--images", str(images), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    p = load_params(tmp_path / "proj" / "params.yaml")
    if cached:
        assert list(p.select.candidates) == ["hub:resnet18.a1_in1k"] and p.zoo is None
        assert "left out: hub:mobilenetv3_large_100.ra_in1k" in r.stderr
    else:
        assert list(p.select.candidates) == ["zoo:*"] and p.zoo is not None
        assert "uses the demo zoo" in r.stderr and "--candidate hub:resnet18.a1_in1k" in r.stderr
    text = (tmp_path / "proj" / "params.yaml").read_text()
    assert "https://github.com/..." not in text
    (docs,) = re.findall(r"background in (\S+)$", text, re.MULTILINE)
    assert (tmp_path / "proj" / docs).resolve() == (REPO / "docs" / "reference" / "params.md").resolve()
    assert "finetune.lr" in (REPO / "docs" / "reference" / "params.md").read_text()

    listed = cli("params", cwd=tmp_path).stdout
    for params_file in (tmp_path / "proj" / "params.yaml", REPO / "params.yaml"):
        for key in _keys(yaml.safe_load(params_file.read_text())):
            assert re.search(rf"^{re.escape(key)}( = |:)", listed, re.M), key


def test_graftline_params_shows_default_bounds_and_meaning(tmp_path: Path):
    r = cli("params", "finetune", cwd=tmp_path)
    assert r.returncode == 0
    (line,) = [ln for ln in r.stdout.splitlines() if ln.startswith("finetune.lr = ")]
    assert "0.0003" in line and "(> 0.0, <= 10.0)" in line and "learning rate" in line
    assert "check.seeds" not in r.stdout  # one section asked, one shown
    bad = cli("params", "finetun", cwd=tmp_path)
    assert bad.returncode == 2 and "no section 'finetun'" in bad.stderr and "finetune" in bad.stderr
