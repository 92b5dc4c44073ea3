"""The Prefect flow runs every DVC stage as one task, publishes artifacts, and stops at a failed gate."""

import importlib
import os
from pathlib import Path

import pytest

from tests.conftest import TINY, deep_update, write_params
from tests.integration.conftest import copy_of

pytestmark = pytest.mark.slow

SEEDS = TINY["check"]["seeds"]
STAGES = ["params-check", "demo", "prepare", "validate", "zoo", "select", "look-first", *(f"look@{s}" for s in SEEDS[1:]),
          *(f"{arm}@{s}" for arm in ("finetune", "baseline") for s in SEEDS), "check", "export", "compare", "report"]
# A new transfer learning rate on the reproduced tiny project: exactly these stages are stale and really run (DVC's
# params of each stage, dvc.yaml); every other stage is up to date and is not started.
NEW_LR = deep_update(TINY, {"finetune": {"lr": 0.0021}})
STALE = {"params-check", *(f"finetune@{s}" for s in SEEDS), *(f"look@{s}" for s in SEEDS[1:]), "check", "export",
         "compare", "report"}  # the looks after the first score the re-trained transfer arms


@pytest.fixture(scope="module")
def flow_module(tmp_path_factory):
    """graftline_flows.pipeline (the installed flow) against a throwaway ephemeral Prefect (its own PREFECT_HOME)."""
    home = tmp_path_factory.mktemp("prefect-home")
    saved = {k: os.environ.get(k) for k in ("PREFECT_HOME", "PREFECT_API_URL", "PREFECT_LOGGING_LEVEL")}
    os.environ["PREFECT_HOME"] = str(home)
    # INFO would include the ephemeral server's "Stopping temporary server" at interpreter exit, after pytest has
    # closed the streams it captured (a harmless but noisy logging traceback).
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    os.environ.pop("PREFECT_API_URL", None)
    mod = importlib.import_module("graftline_flows.pipeline")  # installed with graftline: no sys.path edit
    yield mod
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def task_runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        artifacts = client.read_artifacts()
    return runs, artifacts


def test_flow_runs_one_task_per_stage_then_stops_at_a_gate(flow_module, tiny_git_repo, tmp_path: Path):
    project = copy_of(tiny_git_repo, tmp_path / "proj")
    write_params(project, NEW_LR)
    state = flow_module.pipeline(project_dir=str(project), return_state=True)
    assert state.is_completed(), state.message
    order = state.result()["stages"]
    assert sorted(order) == sorted(STAGES)
    pairs = [("params-check", "demo"), ("params-check", "prepare"),
             ("demo", "prepare"), ("prepare", "validate"), ("validate", "select"), ("zoo", "select"),
             ("check", "export"), ("export", "compare"), ("compare", "report")]
    pairs += [p for s in SEEDS for arm in ("finetune", "baseline") for p in (("select", f"{arm}@{s}"),
                                                                          (f"{arm}@{s}", "check"))]
    for before, after in pairs:
        assert order.index(before) < order.index(after), order  # DVC's dependency order
    runs, artifacts = task_runs(state.state_details.flow_run_id)
    stage_runs = [r for r in runs if r.name in STAGES]
    assert sorted(r.name for r in stage_runs) == sorted(STAGES)  # exactly one task run per stage
    assert all(r.state.is_completed() for r in stage_runs)
    keys = {a.key for a in artifacts}
    assert {"graftline-05-select", "graftline-08-check", "graftline-09-export", "graftline-00-summary",
            "graftline-10-report-digest", "graftline-10-report-confusion", "graftline-10-report-selection",
            "graftline-10-report-curves", "graftline-10-report-ranking"} <= keys
    ran = state.result()["ran"]  # which stages graftline really ran (its status file), not restored by DVC
    assert {stage for stage, did in ran.items() if did} == STALE, ran

    # Nothing changed: DVC's status says every stage is up to date, so none is started.
    again = flow_module.pipeline(project_dir=str(project), return_state=True)
    assert again.is_completed() and not any(again.result()["ran"].values()), again.result()

    # A failed gate stops the flow at that stage, with the stage's own message; later stages do not run.
    write_params(project, deep_update(NEW_LR, {"check": {"max_ntg": -1.0}}))
    state = flow_module.pipeline(project_dir=str(project), return_state=True)
    assert state.is_failed()
    with pytest.raises(flow_module.dvc_tasks.StageFailed) as err:
        state.result()
    assert err.value.stage == "check" and err.value.code == 1 and err.value.outcome == "gate"
    assert "negative transfer" in str(err.value)
    runs, _ = task_runs(state.state_details.flow_run_id)
    names = {r.name: r for r in runs}
    assert "export" not in names and "report" not in names and names["check"].state.is_failed()
    assert all(names[s].state.is_completed() for s in STAGES if s not in ("check", "export", "compare", "report"))
