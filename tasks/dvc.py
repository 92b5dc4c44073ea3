"""Run DVC stages as Prefect tasks.

DVC stays the one definition of the DAG, of what is stale and of lineage: a task runs exactly one stage with
``dvc repro --single-item <stage>`` (a no-op when the stage is up to date) and streams its output, line by line, to
the Prefect run logger, so the dashboard shows what the terminal would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prefect import get_run_logger, task

ENV = {"DVC_NO_ANALYTICS": "1", "GX_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
       "PYTHONUNBUFFERED": "1"}


class StageFailed(RuntimeError):
    """A DVC stage exited non-zero; the message is the stage's own error paragraph."""

    def __init__(self, stage: str, code: int, message: str):
        self.stage, self.code = stage, code
        kind = "gate failed" if code == 1 else "failed"
        super().__init__(f"stage '{stage}' {kind} (graftline exit {code}):\n{message}")


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


def _run(cmd: list[str], cwd: Path, logger) -> tuple[int, list[str]]:
    env = {**os.environ, **ENV}
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
    return proc.wait(), lines


def _error_paragraph(lines: list[str]) -> str:
    """The stage's own error message (from `graftline <stage>: error:` on), else DVC's last lines."""
    for i, line in enumerate(lines):
        if ": error: " in line and line.startswith("graftline"):
            tail = [ln for ln in lines[i:] if not ln.startswith("ERROR: failed to reproduce")]
            return "\n".join(tail)
    return "\n".join(lines[-15:])


@task(name="dvc-stage", task_run_name="{stage}", retries=0)
def run_stage(project_dir: Path, stage: str, force: bool = False) -> dict:
    """Run one DVC stage (no-op if up to date). Raises StageFailed with the stage's message on failure."""
    logger = get_run_logger()
    cmd = [*_dvc(), "repro", "--single-item", stage] + (["--force"] if force else [])
    code, lines = _run(cmd, project_dir, logger)
    if code != 0:
        # graftline's own exit code is in DVC's "exited with N" line: 1 = gate, 2 = bad input/config
        gcode = next((int(ln.rsplit(" ", 1)[-1]) for ln in reversed(lines) if "exited with" in ln
                      and ln.rsplit(" ", 1)[-1].isdigit()), code)
        raise StageFailed(stage, gcode, _error_paragraph(lines))
    skipped = any("didn't change, skipping" in ln for ln in lines)
    return {"stage": stage, "ran": not skipped}


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
