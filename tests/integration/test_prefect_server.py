"""The deployment as a team runs it: a real Prefect server, the process work pool, ``prefect deploy --all`` from
prefect.yaml, and a process worker running two overlapping flow runs on one project. Both must complete, one after
the other (the project's concurrency limit), and the dashboard's artifacts must be readable through the API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, REPO, TINY, deep_update, write_params
from tests.integration.conftest import copy_of

pytestmark = pytest.mark.slow
POOL = "graftline-process"


def _prefect(*args: str, env: dict, timeout: float = 120, cwd: Path = REPO) -> subprocess.CompletedProcess:
    r = subprocess.run([str(BIN / "prefect"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"prefect {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def server(tmp_path: Path):
    """A real local Prefect server (graftline_flows.server), UI off; yields the env that points the CLI and the
    worker at it (and this process's client, through a temporary settings context)."""
    from graftline_flows.server import local_server

    with local_server(tmp_path / "prefect-home", ui=False) as srv:
        yield {**srv.env, "PREFECT_LOGGING_LEVEL": "WARNING", "GRAFTLINE_PROJECT_DIR": str(REPO)}


def test_deployment_runs_two_overlapping_runs_one_after_the_other(server, tiny_git_repo, tmp_path: Path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, \
        FlowRunFilterId

    project = copy_of(tiny_git_repo, tmp_path / "proj")  # the reproduced tiny project with a new transfer lr:
    write_params(project, deep_update(TINY, {"finetune": {"lr": 0.0023}}))  # finetune@*, check, export, report rerun
    _prefect("work-pool", "create", POOL, "--type", "process", env=server)
    _prefect("--no-prompt", "deploy", "--all", env=server)
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("graftline-pipeline/nightly")
        assert dep.schedules and dep.schedules[0].schedule.cron == "0 2 * * *"
        runs = [client.create_flow_run_from_deployment(dep.id, parameters={"project_dir": str(project)})
                for _ in range(2)]
    # Both runs are due now: one worker poll picks both up and starts them at once (two processes).
    worker = subprocess.run([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--run-once"], env=server,
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert worker.returncode == 0, worker.stdout + worker.stderr

    with get_client(sync_client=True) as client:
        done = [client.read_flow_run(r.id) for r in runs]
        assert all(r.state.is_completed() for r in done), [(r.state.type, r.state.message) for r in done]
        spans = []
        for r in done:
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id])))
            stage_runs = [t for t in tasks if t.task_key and "run_stage" in t.task_key]
            n_stages = 10 + 3 * len(TINY["check"]["seeds"])  # params-check first, compare after export; a look,
            # finetune and baseline per seed
            assert len(stage_runs) == n_stages, [t.name for t in stage_runs]
            spans.append((min(t.start_time for t in stage_runs), max(t.end_time for t in stage_runs)))
        # The concurrency limit: one run's stages all end before the other's begin (DVC's lock never contended).
        first, second = sorted(spans)
        assert first[1] <= second[0], spans
        arts = {r.id: {a.key: a for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[r.id])))} for r in done}
        limits = [lim.name for lim in client.read_global_concurrency_limits(limit=50)]
    assert any(n.startswith("graftline-project-") for n in limits), limits
    for keys in arts.values():  # both runs publish the report, whichever ran the stages
        assert {"graftline-10-report-digest", "graftline-10-report-confusion", "graftline-10-report-ranking", "graftline-00-summary"} <= set(keys)
        # Prefect stores a link artifact as markdown: [text](url)
        digest = keys["graftline-10-report-digest"].data  # markdown the browser renders, not a file:// link
        assert digest.startswith("# graftline run report") and "reports/run.html" in digest, digest
        assert "file://" not in digest and "McNemar p" in digest, digest
        assert keys["graftline-10-report-confusion"].type == "image"
        assert keys["graftline-10-report-confusion"].data.startswith("data:image/png;base64,")
    # Exactly one run trained (its tqdm bars became progress artifacts at 100 %); the other found it up to date.
    progress = [{k: a for k, a in keys.items() if k.startswith("graftline-progress-")} for keys in arts.values()]
    key = f"graftline-progress-finetune-{TINY['check']['seeds'][0]}"  # stage finetune@0
    trained = [p for p in progress if key in p]
    assert len(trained) == 1 and not [p for p in progress if p is not trained[0] and p], progress
    assert float(trained[0][key].data) == 100.0
    assert (project / "reports" / "run.html").is_file()
