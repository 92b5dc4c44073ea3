"""The production loop on a real Prefect server and process worker, on a copy of the tiny project with its own image
folder: a first run on a small budget (1 step) puts its model at ``prod`` (``first``); the budget goes back to the
recipe's 6 steps and 50 new images are dropped into the folder: the data sensor's deployment emits
``graftline.data.changed``, whose trigger starts the pipeline deployment, which compares its model with the champion
and promotes it (decision and tag read back through the API and gto); a deliberately weak challenger (a tenth of the
steps) is kept out (``keep``, prod unchanged, ``make promote`` refuses); a rollback puts prod back on the first
version. (On the tiny project a retrain with the same 6-step recipe differs from the last by up to ±12 points, so the
promotion is made certain by the budget, not left to that noise.) Wall time per step is printed (``-s``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, REPO, TINY, deep_update, env, write_params
from tests.integration.conftest import copy_of, git
from tests.integration.test_prefect_server import POOL, _prefect, server  # noqa: F401 - server is a fixture

pytestmark = pytest.mark.slow
HELD_BACK = 50
# One seed (the loop compares exported models, not arms), the project's own image folder, the shipped compare
# settings (non-inferiority, margin 0.02); the first model gets a tenth of the recipe's steps.
LOOP = deep_update(TINY, {"data": {"source": "folder", "root": "data/images"}, "check": {"seeds": [0], "min_seeds": 1}})
WEAK = {"finetune": {"steps": max(1, TINY["finetune"]["steps"] // 10), "warmup_steps": 0}}


def _worker(env_: dict, cwd: Path) -> None:
    r = subprocess.run([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--run-once"], env=env_, cwd=cwd,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def _artifact(client, run_id, key: str):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    return {a.key: a for a in arts}.get(key)


def _prod(project: Path) -> dict | None:
    from graftline_flows.registry import current

    return current(project, "prod")


def test_first_then_new_data_then_a_weak_challenger_then_rollback(server, tiny_git_repo, tmp_path: Path):  # noqa: F811
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    times = {}
    project = copy_of(tiny_git_repo, tmp_path / "proj")
    for tag in git("tag", "--list", cwd=project).split():  # the shared copy may hold another test's promotion
        git("tag", "-d", tag, cwd=project)
    images, held = project / "data/images", tmp_path / "held-back"
    shutil.copytree(project / "data/demo/digits", images)
    files = sorted(p for p in images.rglob("*.png"))
    for p in files[:: len(files) // HELD_BACK][:HELD_BACK]:  # spread over the classes
        (held / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.move(p, held / p.parent.name / p.name)
    write_params(project, deep_update(LOOP, WEAK))
    shutil.copytree(REPO / "flows", project / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "prefect.yaml", project / "prefect.yaml")
    git("add", "-A", cwd=project)
    git("commit", "-qm", "own image folder", cwd=project)
    e = {**server, "GRAFTLINE_PROJECT_DIR": str(project)}  # the deployments' working directory: this project
    _prefect("work-pool", "create", POOL, "--type", "process", env=e)
    _prefect("--no-prompt", "deploy", "--all", env=e, cwd=project)

    with get_client(sync_client=True) as client:
        nightly = client.read_deployment_by_name("graftline-pipeline/nightly")
        sensor = client.read_deployment_by_name("graftline-data-sensor/data-sensor")

        def pipeline_runs():
            return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])))

        # 1. First data: the sensor's first look (records the state, no event) and a pipeline run -> first -> prod.
        t0 = time.monotonic()
        client.create_flow_run_from_deployment(sensor.id)
        first = client.create_flow_run_from_deployment(nightly.id)
        _worker(e, project)
        run = client.read_flow_run(first.id)
        assert run.state.is_completed(), run.state.message
        assert json.loads((project / "metrics/compare.json").read_text())["decision"] == "first"
        assert "**first**" in _artifact(client, first.id, "graftline-10-compare").data
        v1 = _prod(project)
        assert v1 is not None and v1["version"] == "v1.0.0" and v1["message"].startswith("first")
        assert (project / ".graftline/sensor.json").is_file()
        times["first run -> prod v1"] = time.monotonic() - t0

        # 2. The recipe's budget and 50 new images -> the sensor's event -> the trigger starts the pipeline -> a
        # comparison -> promote.
        t0 = time.monotonic()
        write_params(project, LOOP)
        for p in held.rglob("*.png"):
            shutil.copy(p, images / p.parent.name / p.name)
        before = {r.id for r in pipeline_runs()}
        client.create_flow_run_from_deployment(sensor.id)
        _worker(e, project)
        deadline = time.monotonic() + 120
        while not (new := [r for r in pipeline_runs() if r.id not in before]):
            assert time.monotonic() < deadline, "no pipeline run was started by the graftline.data.changed event"
            time.sleep(1)
        (triggered,) = new
        assert triggered.parameters["project_dir"] == str(project)  # from the event's payload
        times["sensor event -> triggered run"] = time.monotonic() - t0
        t0 = time.monotonic()
        _worker(e, project)
        run = client.read_flow_run(triggered.id)
        assert run.state.is_completed(), run.state.message
        md = _artifact(client, triggered.id, "graftline-10-compare").data
        cmp = json.loads((project / "metrics/compare.json").read_text())
        assert cmp["decision"] in ("promote", "keep", "inconclusive") and f"**{cmp['decision']}**" in md
        assert cmp["champion"]["version"] == "v1.0.0" and cmp["compared_images"] > 0
        assert "Δaccuracy" in md and "| class |" in md and "PSI" in md
        assert cmp["decision"] == "promote" and cmp["delta_low"] > -0.02, cmp["why"]
        v2 = _prod(project)
        assert v2["version"] == "v2.0.0" and "challenger acc" in v2["message"]  # the tag says why
        times["triggered run -> compare -> prod v2"] = time.monotonic() - t0

        # 3. A weak challenger (a tenth of the steps): keep, prod unchanged.
        t0 = time.monotonic()
        write_params(project, deep_update(LOOP, WEAK))
        run_id = client.create_flow_run_from_deployment(nightly.id).id
        _worker(e, project)
        assert client.read_flow_run(run_id).state.is_completed()
        cmp = json.loads((project / "metrics/compare.json").read_text())
        assert cmp["decision"] == "keep", cmp["why"]
        assert cmp["delta_high"] < -0.02 and cmp["champion"]["version"] == "v2.0.0"
        assert "**keep**" in _artifact(client, run_id, "graftline-10-compare").data
        assert _prod(project)["version"] == "v2.0.0"
        r = subprocess.run([sys.executable, "-m", "tools.promote", "--project", str(project)], cwd=REPO, env=env(),
                           capture_output=True, text=True)
        assert r.returncode != 0 and "keep" in r.stderr  # make promote refuses it too
        times["weak challenger -> keep"] = time.monotonic() - t0

    # 4. Rollback: prod back on v1.
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "tools.promote", "--rollback", "--project", str(project)], cwd=REPO,
                       env=env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    back = _prod(project)
    assert back["version"] == "v1.0.0" and back["commit"] == v1["commit"] and back["message"].startswith("rollback")
    times["rollback -> prod v1"] = time.monotonic() - t0
    for step, s in times.items():
        print(f"production loop: {step}: {s:.1f} s")
