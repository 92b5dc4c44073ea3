"""The graftline pipeline as a Prefect flow: Prefect schedules and observes, DVC runs.

One task per DVC stage, in DVC's order; each stage's metrics are published as a table artifact; the flow stops at
the first failed stage or gate with that stage's own message. Run it:

    python flows/pipeline.py [--project DIR] [--pull] [--push] [--force]   # ephemeral Prefect, or PREFECT_API_URL
    prefect deploy --all                                                   # the cron deployment in prefect.yaml
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _k, _v in {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1",
               "GX_ANALYTICS_ENABLED": "false"}.items():
    os.environ.setdefault(_k, _v)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `tasks` lives beside `flows`

from prefect import flow, get_run_logger  # noqa: E402

from tasks import dvc as dvc_tasks  # noqa: E402
from tasks.report import publish_stage, publish_summary  # noqa: E402


@flow(name="graftline-pipeline")
def pipeline(project_dir: str = ".", pull: bool = False, push: bool = False, force: bool = False) -> dict:
    """Run every DVC stage of the project in order; publish artifacts; stop at the first failure."""
    logger = get_run_logger()
    root = Path(project_dir).resolve()
    if pull:
        dvc_tasks.pull(root)
    stages = dvc_tasks.stage_order(root)
    logger.info("stages in DVC order: %s", ", ".join(stages))
    ran = {}
    for stage in stages:
        try:
            ran[stage] = dvc_tasks.run_stage(root, stage, force=force)["ran"]
        finally:
            publish_stage(root, stage)  # a failed gate wrote its report first: show it on the dashboard
    publish_summary(root)
    if push:
        dvc_tasks.push(root)
    return {"stages": stages, "ran": ran}


def main() -> None:
    ap = argparse.ArgumentParser(description="Run the graftline pipeline as a Prefect flow.")
    ap.add_argument("--project", default=".", help="project directory (holds dvc.yaml and params.yaml)")
    ap.add_argument("--pull", action="store_true", help="dvc pull before running")
    ap.add_argument("--push", action="store_true", help="dvc push after a successful run")
    ap.add_argument("--force", action="store_true", help="re-run every stage even if up to date")
    args = ap.parse_args()
    try:
        pipeline(project_dir=args.project, pull=args.pull, push=args.push, force=args.force)
    except dvc_tasks.StageFailed as exc:
        print(f"pipeline stopped: {exc}", file=sys.stderr)
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
