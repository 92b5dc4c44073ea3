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

for _k, _v in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1",
               "GX_ANALYTICS_ENABLED": "false"}.items():
    os.environ.setdefault(_k, _v)

from prefect import flow, get_run_logger  # noqa: E402
from prefect.client.orchestration import get_client  # noqa: E402
from prefect.concurrency.sync import concurrency  # noqa: E402

from graftline_flows import dvc as dvc_tasks  # noqa: E402
from graftline_flows import production  # noqa: E402
from graftline_flows.report import key, publish_run_report, publish_summary  # noqa: E402


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
        ran = {}
        for stage in stages:
            # the task's own state (Completed, Skipped, Cached); .result() raises the stage's StageFailed
            ran[stage] = dvc_tasks.run_stage(root, stage, force=force, return_state=True).result()["ran"]
        for publish in (publish_summary, publish_run_report, publish_report_digest,  # on the flow run itself
                        production.publish_comparison):
            dvc_tasks.plain(publish)(root)
        promoted = production.act(root) if promote else None
        if push:
            dvc_tasks.push(root)
    return {"stages": stages, "ran": ran, "promotion": promoted}


def publish_report_digest(root: Path) -> str | None:
    """The run report's judged numbers (metrics/run.json) as a markdown artifact, with where the page is: the
    dashboard cannot link to reports/run.html (browsers refuse file:// links from a web page)."""
    import json

    from prefect.artifacts import create_markdown_artifact

    numbers, page = root / "metrics" / "run.json", root / "reports" / "run.html"
    if not numbers.is_file():
        return None
    rows = [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in json.loads(numbers.read_text()).items()]
    md = "\n".join(["# graftline run report", "", "The numbers that judge this run (metrics/run.json):", "",
                    "| metric | value |", "|---|---|", *rows, "",
                    f"The full page (charts, tables): `{page}`" + (" — open it on the machine that ran the flow "
                                                                  "(`xdg-open` / `open`), or serve the folder: "
                                                                  f"`python -m http.server -d {page.parent}`."
                                                                  if page.is_file() else " (not written yet).")])
    create_markdown_artifact(key=key("report", "digest"), markdown=md,
                             description="the run report's judged numbers (reports/run.html has the page)")
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description="Run the graftline pipeline as a Prefect flow.")
    ap.add_argument("--project", default=".", help="project directory (holds dvc.yaml and params.yaml)")
    ap.add_argument("--pull", action="store_true", help="dvc pull before running")
    ap.add_argument("--push", action="store_true", help="dvc push after a successful run")
    ap.add_argument("--force", action="store_true", help="re-run every stage even if up to date")
    ap.add_argument("--promote", action="store_true", help="commit the run and move prod when compare allows it")
    args = ap.parse_args()
    try:
        pipeline(project_dir=args.project, pull=args.pull, push=args.push, force=args.force, promote=args.promote)
    except dvc_tasks.StageFailed as exc:
        print(f"pipeline stopped: {exc}", file=sys.stderr)
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
