"""validate under `dvc repro`: a rejected data set leaves the accepted one in place (moved from tests/unit: it runs
DVC, so it is slow)."""

from pathlib import Path

from tests.conftest import dvc, make_project
from tests.helpers import make_folder

FOLDER = {"data": {"source": "folder", "root": "images", "train_per_class": None, "val_per_class": None,
                   "val_fraction": 0.25, "test_fraction": 0.25}}


def test_dvc_repro_of_rejected_data_keeps_the_accepted_data(tmp_path: Path):
    """Under `dvc repro` too: DVC must not delete data/prepared before a validate run that then fails."""
    proj = make_project(tmp_path / "proj", FOLDER)
    make_folder(proj / "images")
    r = dvc("repro", "validate", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    before = {p.name: p.read_bytes() for p in (proj / "data/prepared").iterdir()}
    (proj / "images/dog/3.png").write_bytes(b"")
    r = dvc("repro", "validate", cwd=proj)
    assert r.returncode != 0 and "dog/3.png" in r.stdout + r.stderr
    assert {p.name: p.read_bytes() for p in (proj / "data/prepared").iterdir()} == before
