"""Run DVC stages as Prefect tasks, with control flow from DVC's Python API and graftline's own status file.

DVC stays the one definition of the DAG, of what is stale and of lineage. For each stage a task:

1. asks DVC whether the stage is stale (``Repo.status`` on that one stage); an up-to-date stage is not started;
2. runs it the way DVC would (``dvc repro --single-item <stage>``, so dvc.lock and the run-cache are kept), with
   ``GRAFTLINE_STATUS_FILE`` set: the ``graftline`` command writes how it ended there (exit code and outcome:
   ok / gate / error / crash). No file after a successful ``dvc repro`` means DVC restored the stage from its
   run-cache instead of running it. Nothing is read from DVC's English log for control flow;
3. streams the output, line by line, to the Prefect run logger, and turns tqdm progress bars into a Prefect progress
   artifact (``graftline-progress-<stage>``) so long stages show how far they are;
4. publishes the stage's numbers as an artifact of its own task run (plain code, not a task of its own: the run
   graph holds the stages and nothing else), and ends in a state whose name says what happened: ``Completed`` (ran),
   ``Skipped`` (up to date, not started) or ``Cached`` (DVC restored its outputs from the run-cache).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.states import Completed

from graftline_flows.report import publish_stage

ENV = {"DVC_NO_ANALYTICS": "1", "GX_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
       "PYTHONUNBUFFERED": "1"}
# tqdm's bar: "finetune:  50%|█████     | 3/6 [00:00<00:00, ...]" -> (desc, n, total). Display only, never control.
_BAR = re.compile(r"^(?P<desc>[^|]*?):?\s*\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)")


class StageFailed(RuntimeError):
    """A stage did not complete: ``code`` is graftline's exit code (1 gate, 2 bad input/config) or DVC's."""

    def __init__(self, stage: str, code: int, message: str, outcome: str = "error"):
        self.stage, self.code, self.outcome = stage, code, outcome
        kind = {"gate": "gate failed", "dvc": "could not be run by DVC"}.get(outcome, "failed")
        super().__init__(f"stage '{stage}' {kind} (exit {code}):\n{message}")


def _dvc() -> list[str]:
    """The dvc of this interpreter's environment (falls back to PATH)."""
    exe = Path(sys.executable).with_name("dvc")
    return [str(exe)] if exe.exists() else ["dvc"]


def stage_order(project_dir: Path) -> list[str]:
    """The pipeline's stages in an order DVC would run them (dependencies first, ties by name)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(project_dir)) as repo:
        graph = repo.index.graph.reverse(copy=True)  # DVC's edges point from a stage to what it depends on
        # Stage names, not `addressing`: that is relative to this process's cwd, and the tasks run in project_dir.
        names = {s: getattr(s, "name", None) or "" for s in graph.nodes}
        return [names[s] for s in nx.lexicographical_topological_sort(graph, key=lambda s: names[s]) if names[s]]


def stage_changes(project_dir: Path, stage: str) -> list:
    """What DVC says changed for this one stage (empty: up to date). Same answer as ``dvc status <stage>``."""
    from dvc.repo import Repo

    with Repo(str(project_dir)) as repo:
        status = repo.status(targets=[f"{Path(project_dir).resolve() / 'dvc.yaml'}:{stage}"])
    return [change for changes in status.values() for change in changes]


class _Progress:
    """One Prefect progress artifact per stage, updated from the stage's tqdm bars (at most every 2 s)."""

    def __init__(self, stage: str):
        self.key, self.id, self.last = f"graftline-progress-{re.sub(r'[^a-z0-9-]', '-', stage.lower())}", None, 0.0

    def line(self, line: str) -> None:
        m = _BAR.search(line)
        if not m or int(m["total"]) == 0:
            return
        pct, now = 100.0 * int(m["n"]) / int(m["total"]), time.monotonic()
        desc = f"{m['desc'].strip()}: {m['n']}/{m['total']}"
        if self.id is None:
            self.id = create_progress_artifact(pct, key=self.key, description=desc)
        elif now - self.last >= 2.0 or pct >= 100.0:
            update_progress_artifact(self.id, pct, description=desc)
        else:
            return
        self.last = now


def _run(cmd: list[str], cwd: Path, logger, extra_env: dict | None = None, progress: _Progress | None = None
         ) -> tuple[int, list[str]]:
    env = {**os.environ, **ENV, **(extra_env or {})}
    # Put this environment's bin first so DVC finds the `graftline` of the interpreter running the flow.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            bufsize=1)
    lines = []
    assert proc.stdout is not None
    for raw in proc.stdout:
        for line in raw.replace("\r", "\n").splitlines():  # progress bars redraw with \r
            if line.strip():
                lines.append(line)
                logger.info(line)
                if progress is not None:
                    progress.line(line)
    return proc.wait(), lines


def _error_paragraph(lines: list[str], command: str) -> str:
    """The stage's own error message (from ``graftline <stage>: error:`` on), else the last lines of output."""
    start = next((i for i, ln in enumerate(lines) if ln.startswith(f"graftline {command}: error: ")), None)
    return "\n".join(lines[start:] if start is not None else lines[-15:])


def repro_stage(project_dir: Path, stage: str, force: bool, logger) -> dict:
    """Run one stage through ``dvc repro --single-item``; return how it went (graftline's own status)."""
    with tempfile.TemporaryDirectory(prefix="graftline-status-") as tmp:
        status_file = Path(tmp) / "status.json"
        cmd = [*_dvc(), "repro", "--single-item", stage] + (["--force"] if force else [])
        code, lines = _run(cmd, project_dir, logger, {"GRAFTLINE_STATUS_FILE": str(status_file)}, _Progress(stage))
        status = json.loads(status_file.read_text()) if status_file.is_file() else None
    if status is not None and status["exit_code"] != 0:
        raise StageFailed(stage, status["exit_code"], _error_paragraph(lines, status["command"]), status["outcome"])
    if code != 0:  # graftline ended fine (or never started): DVC itself failed, e.g. a missing dependency
        raise StageFailed(stage, code, "\n".join(lines[-15:]), "dvc")
    return {"stage": stage, "ran": status is not None, "restored_from_run_cache": status is None}


def plain(fn):
    """A publisher of graftline_flows.report as plain code even where it is declared a task: bookkeeping is not a
    node of the run graph, and its artifacts land on the run that calls it (a stage's task run, or the flow run)."""
    return getattr(fn, "fn", fn)


@task(name="dvc-stage", task_run_name="{stage}", retries=0)
def run_stage(project_dir: Path, stage: str, force: bool = False):
    """Run one DVC stage if DVC says it is stale (or ``force``). Raises StageFailed with the stage's message.

    Returns the outcome ({stage, ran, restored_from_run_cache}) in a Completed state named after what happened."""
    logger = get_run_logger()
    try:
        changes = [] if force else stage_changes(project_dir, stage)
        if not force and not changes:
            logger.info("stage %s is up to date (dvc status): not run", stage)
            out = {"stage": stage, "ran": False, "restored_from_run_cache": False}
            return Completed(name="Skipped", message="up to date (dvc status): not run", data=out)
        if changes:
            logger.info("stage %s is stale: %s", stage, json.dumps(changes, default=str))
        out = repro_stage(project_dir, stage, force, logger)
        if out["restored_from_run_cache"]:
            return Completed(name="Cached", message="outputs restored from DVC's run-cache: not run", data=out)
        if skip := _not_needed(project_dir, stage):  # sequential seeds: an earlier look settled the verdict
            return Completed(name="Not needed", message=f"not trained: {skip}", data=out)
        return Completed(message="ran", data=out)
    finally:
        plain(publish_stage)(project_dir, stage)  # a failed gate wrote its report first: show it on the dashboard


def _not_needed(project_dir: Path, stage: str) -> str | None:
    """The reason a finetune@s / baseline@s stage wrote a skip record instead of training, else None."""
    from graftline.project import Project
    from graftline.results import pair_skipped

    name, _, item = stage.partition("@")
    if name not in ("finetune", "baseline") or not item.lstrip("-").isdigit():
        return None
    rec = pair_skipped(Project(Path(project_dir)), name, int(item))
    return rec.not_needed if rec else None


def _dvc_or_raise(args: list[str], project_dir: Path) -> None:
    code, lines = _run([*_dvc(), *args], project_dir, get_run_logger())
    if code != 0:
        raise RuntimeError(f"dvc {args[0]} failed:\n" + "\n".join(lines[-15:]))


@task(name="dvc-pull")
def pull(project_dir: Path) -> None:
    """Fetch cached data and models from the DVC remote (nothing to do when no remote is configured)."""
    _dvc_or_raise(["pull", "--allow-missing"], project_dir)


@task(name="dvc-push")
def push(project_dir: Path) -> None:
    """Send this run's data and models to the DVC remote."""
    _dvc_or_raise(["push"], project_dir)
