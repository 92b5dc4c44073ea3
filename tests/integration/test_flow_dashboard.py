"""What the Prefect dashboard shows for a run of the real flow, on a real (ephemeral) Prefect server and real DVC:
only the stages in the run graph, a skipped stage named Skipped, a stage restored from DVC's run-cache named Cached,
each stage's artifact on its own task run, the summary and the run report's numbers on the flow run.

The project is a two-stage DVC pipeline whose commands keep graftline's contract with the flow (outputs, plus the
status file of ``GRAFTLINE_STATUS_FILE``) in milliseconds, so the test is about the flow, not about training."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # an ephemeral Prefect server (about a minute to start)

STAGE = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    stage = sys.argv[1]
    if stage == "prepare":
        Path("data/staged").mkdir(parents=True, exist_ok=True)
        Path("data/staged/meta.json").write_text(json.dumps(
            {"root": "images", "source": "folder", "scanned": 12, "images": 12,
             "splits": {"train": 8, "val": 2, "test": 2}, "data_hash": "0123456789abcdef"}))
    else:
        Path("reports").mkdir(exist_ok=True)
        Path("metrics").mkdir(exist_ok=True)
        Path("reports/run.html").write_text("<html>run</html>")
        Path("metrics/run.json").write_text(json.dumps({"transfer_acc": 0.95, "parity_max_abs_diff": 3.3e-06}))
    Path(os.environ["GRAFTLINE_STATUS_FILE"]).write_text(
        json.dumps({"command": stage, "exit_code": 0, "outcome": "ok"}))
""")
DVC_YAML = textwrap.dedent(f"""
    stages:
      prepare:
        cmd: {sys.executable} stage.py prepare
        deps: [stage.py]
        outs: [data/staged]
      report:
        cmd: {sys.executable} stage.py report
        deps: [data/staged]
        outs: [reports]
        metrics:
          - metrics/run.json:
              cache: false
""")


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "stage.py").write_text(STAGE)
    (root / "dvc.yaml").write_text(DVC_YAML)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"]):
        subprocess.run(cmd, cwd=root, check=True, env=env, capture_output=True)
    return root


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    from prefect.testing.utilities import prefect_test_harness

    saved = os.environ.get("PREFECT_LOGGING_LEVEL")
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    with prefect_test_harness(server_startup_timeout=120):
        yield
    if saved is None:
        os.environ.pop("PREFECT_LOGGING_LEVEL", None)
    else:
        os.environ["PREFECT_LOGGING_LEVEL"] = saved


def _runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {t.name: t for t in tasks}, artifacts


def test_the_dashboard_shows_stages_only_and_what_each_did(harness, tmp_path: Path):
    from graftline_flows.pipeline import pipeline

    project = _project(tmp_path / "proj")
    state = pipeline(project_dir=str(project), return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["ran"] == {"prepare": True, "report": True}
    tasks, artifacts = _runs(state.state_details.flow_run_id)
    assert sorted(tasks) == ["prepare", "report"]  # the run graph: the stages, no publish-<hash> bookkeeping
    assert {t.state.name for t in tasks.values()} == {"Completed"}
    by_key = {a.key: a for a in artifacts}
    # a stage's numbers on its own task run; the summary and the report's numbers on the flow run itself
    assert by_key["graftline-02-prepare"].task_run_id == tasks["prepare"].id
    for key in ("graftline-00-summary", "graftline-10-report-digest"):
        assert by_key[key].task_run_id is None and by_key[key].flow_run_id == state.state_details.flow_run_id
    digest = by_key["graftline-10-report-digest"].data
    assert "| parity_max_abs_diff | 3.3e-06 |" in digest and str(project / "reports" / "run.html") in digest

    # Nothing changed: both stages are visibly skipped, not the green Completed of a stage that ran.
    again = pipeline(project_dir=str(project), return_state=True)
    assert again.is_completed() and again.result()["ran"] == {"prepare": False, "report": False}
    tasks, artifacts = _runs(again.state_details.flow_run_id)
    assert {n: t.state.name for n, t in tasks.items()} == {"prepare": "Skipped", "report": "Skipped"}
    # the run's own page says what each stage did, in stage order, with a link to that stage's numbers
    by_key = {a.key: a for a in artifacts}
    summary = by_key["graftline-00-summary"].data
    prepare_link = f"[graftline-02-prepare](/artifacts/artifact/{by_key['graftline-02-prepare'].id})"
    assert f"| prepare | skipped: up to date | {prepare_link} |\n| report | skipped: up to date |  |" in summary
    assert all(t.state.is_completed() for t in tasks.values())  # skipped is a success: downstream still runs

    # Outputs deleted, inputs unchanged: DVC restores them from its run-cache without running the command.
    shutil.rmtree(project / "reports")
    third = pipeline(project_dir=str(project), return_state=True)
    tasks, _ = _runs(third.state_details.flow_run_id)
    assert {n: t.state.name for n, t in tasks.items()} == {"prepare": "Skipped", "report": "Cached"}
    assert (project / "reports" / "run.html").is_file()
    assert json.loads((project / "metrics" / "run.json").read_text())["transfer_acc"] == 0.95
