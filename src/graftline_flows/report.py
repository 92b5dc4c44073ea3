"""Stage outputs -> Prefect artifacts, so the dashboard shows each stage's numbers next to its logs.

Every result is read through its model (graftline.results), as the CLI and the report read it. Artifact keys sort
in stage order (``graftline-01-demo``, ``graftline-02-prepare``, ..., ``graftline-08-check``), the run's summary first (``-00-``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from graftline.project import Project
from graftline_flows.digest import digest
from graftline.results import (CheckResult, ExportResult, PairSkipped, PrepareResult, SelectionReport, TrainResult,
                               ValidationReport, ZooResult)


def _demo(path: Path) -> list[dict]:
    d = json.loads(path.read_text())  # the demo generator's own summary, not a stage result
    return [{"target_images": d["target_images"], **d["source_images"]}]


def _prepare(m: PrepareResult) -> dict:
    return {"images": m.images, **m.splits, "data_hash": m.data_hash[:12]}


def _selection(path: Path) -> list[dict]:
    sel = SelectionReport.read(path)
    return [{"rank": i, "candidate": r.candidate,
             **{e: (round(r.scores[e], 4) if r.scores.get(e) is not None else None) for e in sel.estimators},
             "selected": r.candidate == sel.selected} for i, r in enumerate(sel.ranking, 1)]


def _check(path: Path) -> list[dict]:
    c = CheckResult.read(path)
    return [{"seed": r.seed, "verdict": c.verdict, "ntg_mean": c.ntg, "ntg_low": c.ntg_low, "ntg_high": c.ntg_high,
             **r.model_dump(exclude={"seed"})} for r in c.per_seed]


def _arm(path: Path) -> dict:
    """One arm's training, or its skip record (sequential seeds: the pair was not needed)."""
    model = PairSkipped if "not_needed" in json.loads(path.read_text()) else TrainResult
    return model.read(path).model_dump(exclude={"made_by"})


# stage -> (its file, from the project and the foreach item; its table rows), in the pipeline's order: the artifact
# keys are numbered by it
SOURCES: dict[str, tuple[Callable[[Project, str], Path], Callable[[Path], list[dict]]]] = {
    "demo": (lambda proj, _: proj.demo_summary, _demo),
    "prepare": (lambda proj, _: proj.staged_meta, lambda p: [_prepare(PrepareResult.read(p))]),
    "validate": (lambda proj, _: proj.validation, lambda p: [
        {"rule": r.rule, "passed": r.passed, "offending_count": r.offending_count}
        for r in ValidationReport.read(p).rules]),
    "zoo": (lambda proj, _: proj.zoo_index, lambda p: [c.model_dump(exclude={"weights_sha256"})
                                                       for c in ZooResult.read(p).candidates]),
    "select": (lambda proj, _: proj.selection, _selection),
    "finetune": (lambda proj, seed: proj.arm_metrics("finetune", int(seed)), lambda p: [_arm(p)]),
    "baseline": (lambda proj, seed: proj.arm_metrics("baseline", int(seed)), lambda p: [_arm(p)]),
    "check": (lambda proj, _: proj.check_json, _check),
    "export": (lambda proj, _: proj.export_json, lambda p: [ExportResult.read(p).model_dump(exclude={"made_by"})]),
}
REPORT = len(SOURCES) + 1  # the report stage's number: its page and charts come after every stage


def key(stage: str, *rest: str) -> str:
    """``graftline-<NN>-<stage>[-rest]``: NN is the stage's place in the pipeline (00 = the run's summary), so the
    dashboard lists artifacts in stage order. Keys hold lowercase letters, digits and dashes only."""
    n = 0 if stage == "summary" else REPORT if stage == "report" else list(SOURCES).index(stage) + 1
    return "-".join(["graftline", f"{n:02d}", stage, *rest])


def _flat(row: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)) for k, v in row.items()}


@task(name="publish")
def publish_stage(project_dir: Path, stage: str) -> str | None:
    """Publish the stage's metrics/report as a table artifact keyed ``graftline-<NN>-<stage>``; None if it has
    none. Stages made by ``foreach`` (``finetune@1``) publish their own item's file (``metrics/finetune/seed-1.json``,
    key ``graftline-06-finetune-seed-1``)."""
    name, _, item = stage.partition("@")
    if name not in SOURCES:
        return None
    where, to_rows = SOURCES[name]
    path = where(Project(Path(project_dir)), item)
    rel = path.relative_to(project_dir).as_posix()
    if not path.is_file():
        return None
    rows = [_flat(r) for r in to_rows(path)]
    create_table_artifact(key=key(name, *(("seed", item) if item else ())), table=rows,
                          description=f"{stage}: {rel}{_took(Project(Path(project_dir)), name, item)}")
    return rel


# words, not emoji: a dashboard on a machine without an emoji font shows boxes (seen in headless Chromium)
STATE_MARK = {"Completed": "**ran**", "Skipped": "skipped: up to date", "Cached": "cached: restored from DVC's run-cache"}


def _artifact_ids() -> dict[str, str]:
    """key -> id of this flow run's artifacts (for links to their pages); empty outside a flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.runtime import flow_run

    if not flow_run.id:
        return {}
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id])))
    return {a.key: str(a.id) for a in found if a.key}


COMPARE_KEY = "graftline-10-compare"  # graftline_flows/production.py publishes it (champion vs challenger)


def stage_rows(states: list[tuple[str, str]], ids: dict[str, str]) -> list[str]:
    """The stages in the pipeline's order with what each did and a link to its numbers: the dashboard's Artifacts
    tab lists artifacts in no order of ours, so the run's own page says the order."""
    rows = ["| stage | what happened | its numbers |", "|---|---|---|"]
    for stage, state in states:
        name, _, item = stage.partition("@")
        k = key(name, *(("seed", item) if item else ())) if name in SOURCES else COMPARE_KEY if name == "compare" \
            else None
        link = f"[{k}](/artifacts/artifact/{ids[k]})" if k in ids else ""
        rows.append(f"| {stage} | {STATE_MARK.get(state, state)} | {link} |")
    return rows


def _took(proj: Project, name: str, item: str) -> str:
    """The stage's wall time from .graftline/timings (not a DVC output: timings are not metrics), when recorded."""
    try:
        t = json.loads(proj.timings(name + (f"/seed-{item}" if item else "")).read_text())
        return f" ({t.get('seconds', t.get('train_seconds')):.1f} s)"
    except (OSError, ValueError, TypeError):
        return ""


@task(name="publish-summary")
def publish_summary(project_dir: Path, states: list[tuple[str, str]] | None = None) -> str:
    """One markdown artifact with the run's headline (the same text as `graftline summary`) and, given the stages'
    final states in order, a table of what each stage did with a link to its artifact."""
    from graftline.summary import headline

    md = "# graftline run\n\n```\n" + headline(Project(Path(project_dir))) + "\n```\n"
    if states:
        ids = _artifact_ids()
        md += "\n## Stages, in order\n\n" + "\n".join(stage_rows(states, ids)) + "\n"
        report = [k for k in sorted(ids) if k.startswith(key("report"))]
        if report:
            md += "\nThe run report: " + ", ".join(f"[{k}](/artifacts/artifact/{ids[k]})" for k in report) + "\n"
    create_markdown_artifact(key=key("summary"), markdown=md, description="graftline run summary")
    return md


@task(name="publish-run-report")
def publish_run_report(project_dir: Path) -> list[str]:
    """The run report on the dashboard, where a browser opens it: its key content as markdown (``digest``) and its
    charts as image artifacts (data URIs, so they show without a file server), plus the selection ranking. No link
    to reports/run.html: browsers refuse a file:// link from a web page. Returns the artifact keys made."""
    import base64

    from prefect.artifacts import create_image_artifact

    made, proj = [], Project(Path(project_dir))
    md = digest(Path(project_dir))  # graftline_flows/digest.py
    if md is not None:
        create_markdown_artifact(key=key("report", "digest"), markdown=md,
                                 description="the run report: verdict, every seed, per-class NTG, export")
        made.append(key("report", "digest"))
    for name, what in (("confusion", "test confusion matrix of the fine-tuned model"),
                       ("selection", "selection score against kNN accuracy, every candidate"),
                       ("curves", "training curves of both arms, every seed")):
        png = proj.figures / f"{name}.png"
        if png.is_file():
            uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            create_image_artifact(image_url=uri, key=key("report", name), description=what)
            made.append(key("report", name))
    sel_path = proj.selection
    if sel_path.is_file():
        sel = SelectionReport.read(sel_path)
        est = sel.estimator
        lines = [f"# Source ranking by {est}", "", f"| # | candidate | {est} | knn |", "|---|---|---|---|"]
        for i, r in enumerate(sel.ranking, 1):
            mark = " **(selected)**" if r.candidate == sel.selected else ""
            score, knn = r.scores.get(est), r.scores.get("knn")
            lines.append(f"| {i} | {r.candidate}{mark} | {'n/a' if score is None else f'{score:+.4f}'} | "
                         f"{'n/a' if knn is None else f'{knn:.3f}'} |")
        lines += ["", sel.why]
        create_markdown_artifact(key=key("report", "ranking"), markdown="\n".join(lines),
                                 description="selection ranking")
        made.append(key("report", "ranking"))
    return made
