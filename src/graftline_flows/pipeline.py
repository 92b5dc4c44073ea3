"""The graftline pipeline as a Prefect flow: Prefect schedules and observes, DVC runs.

One task per DVC stage, in DVC's order, and no other task: a stage runs only when ``dvc status`` says it is stale,
and one that did not run ends ``Skipped`` (or ``Cached``), not the green ``Completed`` of one that ran; each stage's
numbers become a table artifact of its own task run; the summary and the run report (its judged numbers as markdown,
since a browser will not open a file:// link from the dashboard; the charts as images) are artifacts of the flow run
itself. The flow stops at the first failed stage or gate with that stage's own message.

Runs on one project queue: the flow holds a slot of a Prefect global concurrency limit named after the project
directory (limit 1) while it runs DVC, so a scheduled run that overlaps a manual one waits instead of dying on
DVC's lock. Run it from a project directory (this repository or one made by ``graftline init``):

    python -m graftline_flows.pipeline [--project DIR] [--pull] [--push] [--force] [--promote]  # ephemeral Prefect
    python flows/pipeline.py [...]                      # the same, through the project's entrypoint file
    prefect deploy --all                                # prefect.yaml's cron deployment (flows/pipeline.py:pipeline)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

from graftline_flows import dvc as dvc_tasks
from graftline_flows import production
from graftline_flows.report import publish_run_report, publish_summary

# Set by the flow's entry points (main, the flow itself), not on import: what the flow starts (DVC, the stages, an
# ephemeral Prefect server, which gets this process's environment) inherits them; the user's own values are kept.
ANALYTICS_OFF = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1", "GX_ANALYTICS_ENABLED": "false"}


def analytics_off() -> None:
    for k, v in ANALYTICS_OFF.items():
        os.environ.setdefault(k, v)


def project_lock_name(root: Path) -> str:
    """The global concurrency limit that serialises runs on one project directory (one DVC lock, one limit)."""
    return f"graftline-project-{hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]}"


def _ensure_limit(name: str) -> None:
    """Create the limit (1 slot) if it does not exist; an operator may raise or lower it in the UI/CLI."""
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.upsert_global_concurrency_limit_by_name(name, 1)
            except ObjectAlreadyExists:  # another run created it between our read and our create
                pass


@flow(name="graftline-pipeline")
def pipeline(project_dir: str = ".", pull: bool = False, push: bool = False, force: bool = False,
             promote: bool = False) -> dict:
    """Run every stale DVC stage of the project in order; publish artifacts; stop at the first failure. With
    ``promote``, commit the run and move ``prod`` when the comparison with the champion allows it (production.act)."""
    analytics_off()  # a deployment's worker calls the flow without main()
    logger = get_run_logger()
    root = Path(project_dir).resolve()
    lock = project_lock_name(root)
    _ensure_limit(lock)
    logger.info("waiting for concurrency slot %s (one run per project at a time)", lock)
    with concurrency(lock, occupy=1, strict=True):
        logger.info("slot %s acquired", lock)
        if pull:
            dvc_tasks.pull(root)
        stages = dvc_tasks.stage_order(root)
        logger.info("stages in DVC order: %s", ", ".join(stages))
        ran, states = {}, []
        for stage in stages:
            # the task's own state (Completed, Skipped, Cached); .result() raises the stage's StageFailed
            state = dvc_tasks.run_stage(root, stage, force=force, return_state=True)
            ran[stage] = state.result()["ran"]
            states.append((stage, state.name))
        dvc_tasks.plain(publish_run_report)(root)  # on the flow run itself; the summary last, linking them all
        dvc_tasks.plain(production.publish_comparison)(root)
        dvc_tasks.plain(publish_summary)(root, states)
        promoted = production.act(root) if promote else None
        if push:
            dvc_tasks.push(root)
    return {"stages": stages, "ran": ran, "promotion": promoted}


def main() -> None:
    ap = argparse.ArgumentParser(description="Run the graftline pipeline as a Prefect flow.")
    ap.add_argument("--project", default=".", help="project directory (holds dvc.yaml and params.yaml)")
    ap.add_argument("--pull", action="store_true", help="dvc pull before running")
    ap.add_argument("--push", action="store_true", help="dvc push after a successful run")
    ap.add_argument("--force", action="store_true", help="re-run every stage even if up to date")
    ap.add_argument("--promote", action="store_true", help="commit the run and move prod when compare allows it")
    args = ap.parse_args()
    analytics_off()  # before the flow call starts an ephemeral Prefect server
    try:
        pipeline(project_dir=args.project, pull=args.pull, push=args.push, force=args.force, promote=args.promote)
    except dvc_tasks.StageFailed as exc:
        print(f"pipeline stopped: {exc}", file=sys.stderr)
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
