"""graftline init: a project whose params load, with every label kept, and clear refusals."""

from pathlib import Path

import yaml

from graftline.config import load_params
from tests.conftest import cli
from tests.unit.test_manifest import make_folder


def test_init_from_a_csv_in_place_with_demo_zoo(tmp_path: Path):
    images = make_folder(tmp_path / "imgs", per_class=6)
    (images / "labels.csv").write_text("path,label\n" + "".join(f"{c}/{i}.png,{c}\n" for c in ("cat", "dog")
                                                                for i in range(6)))
    r = cli("init", str(tmp_path / "proj"), "--csv", str(images / "labels.csv"), "--in-place", "--with-demo-zoo",
            "--candidate", "file:weights/mine.safetensors", cwd=tmp_path, check=True)
    assert "12 images" in r.stdout
    proj = tmp_path / "proj"
    p = load_params(proj / "params.yaml")
    assert p.data.source == "csv" and Path(p.data.root) == images / "labels.csv"
    assert p.data.train_per_class is None and p.data.val_per_class is None
    assert p.zoo is not None and "zoo:*" in p.select.candidates and "file:weights/mine.safetensors" in p.select.candidates
    stages = yaml.safe_load((proj / "dvc.yaml").read_text())["stages"]
    assert {"demo", "zoo", "prepare", "validate", "select", "finetune", "export", "report"} <= set(stages)
    assert not (proj / "data/raw").exists()  # in place: nothing copied
    for f in ("prefect.yaml", "flows/pipeline.py", "README.md", ".gitignore", ".dvc/config"):
        assert (proj / f).is_file(), f


def test_init_refuses_a_non_empty_folder_and_two_sources(tmp_path: Path):
    images = make_folder(tmp_path / "imgs", per_class=2)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj/notes.txt").write_text("mine")
    r = cli("init", str(tmp_path / "proj"), "--images", str(images), cwd=tmp_path)
    assert r.returncode == 2 and "not empty" in r.stderr
    r = cli("init", str(tmp_path / "p2"), cwd=tmp_path)
    assert r.returncode == 2 and "exactly one of --images" in r.stderr
