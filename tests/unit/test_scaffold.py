"""graftline init: a project whose params load, with every label kept, the repository's own flow, and clear
refusals."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

import graftline_flows
from graftline.config import load_params
from graftline.scaffold.dag import INIT_MADE_BY, installed_code_root, render_dag
from tests.conftest import REPO, cli, env
from tests.helpers import make_folder


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
    # the repository's own DAG text, its code the installed graftline's (stamped by params-check)
    assert (proj / "dvc.yaml").read_text() == render_dag(True, installed_code_root(), INIT_MADE_BY)
    assert stages["params-check"]["deps"] == ["params.yaml", installed_code_root()]
    r = cli("params-check", cwd=proj, check=True)
    assert (proj / ".graftline/code/finetune.json").is_file() and "finetune" in r.stdout
    (proj / "params.yaml").write_text((proj / "params.yaml").read_text().replace("finetune:", "finetun:"))
    r = cli("params-check", cwd=proj)
    assert r.returncode == 2 and "finetun" in r.stderr and "did you mean 'finetune'" in r.stderr
    assert not (proj / "data/raw").exists()  # in place: nothing copied
    for f in ("prefect.yaml", "flows/pipeline.py", "README.md", ".gitignore", ".dvc/config"):
        assert (proj / f).is_file(), f
    assert_runs_the_repository_flow(proj, tmp_path)


def assert_runs_the_repository_flow(proj: Path, tmp_path: Path) -> None:
    """The init project's Prefect entrypoint is the repository's own flow (graftline_flows.pipeline), not a copy."""
    entry = (proj / "flows/pipeline.py").read_text()
    assert entry == (REPO / "flows/pipeline.py").read_text()  # one text: the repository's entrypoint file
    assert "from graftline_flows.pipeline import main, pipeline" in entry
    dep, sensor = yaml.safe_load((proj / "prefect.yaml").read_text())["deployments"]
    assert dep["entrypoint"] == "flows/pipeline.py:pipeline"
    assert dep["parameters"] == {"project_dir": ".", "pull": False, "push": False, "promote": True}
    assert sensor["entrypoint"] == "flows/pipeline.py:data_sensor"  # the data-sensor deployment
    # Loaded the way `prefect deploy` and a worker load it, in the project, with no server and no placeholder flow.
    code = ("import json; from prefect.flows import load_flow_from_entrypoint as load; "
            "f = load('flows/pipeline.py:pipeline', use_placeholder_flow=False); "
            "print(json.dumps([type(f).__module__, type(f).__name__, f.name, f.fn.__module__, "
            "sorted(f.parameters.properties)]))")
    e = env()
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(graftline_flows.__file__).parents[1]),
                                                  e.get("PYTHONPATH")) if p)
    e["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    r = subprocess.run([sys.executable, "-c", code], cwd=proj, env=e, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == [
        "prefect.flows", "Flow", "graftline-pipeline", "graftline_flows.pipeline",
        ["force", "project_dir", "promote", "pull", "push"]]


def test_init_refuses_a_non_empty_folder_and_two_sources(tmp_path: Path):
    images = make_folder(tmp_path / "imgs", per_class=2)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj/notes.txt").write_text("mine")
    r = cli("init", str(tmp_path / "proj"), "--images", str(images), cwd=tmp_path)
    assert r.returncode == 2 and "not empty" in r.stderr
    r = cli("init", str(tmp_path / "p2"), cwd=tmp_path)
    assert r.returncode == 2 and "exactly one of --images" in r.stderr
