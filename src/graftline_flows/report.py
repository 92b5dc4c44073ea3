"""Stage outputs -> Prefect artifacts, so the dashboard shows each stage's numbers next to its logs."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

# stage -> (file, how to turn it into table rows)
SOURCES = {
    "demo": ("data/demo/README.json", lambda d: [{"target_images": d["target_images"], **d["source_images"]}]),
    "prepare": ("data/staged/meta.json", lambda d: [{"images": d["images"], **d["splits"],
                                                        "data_hash": d["data_hash"][:12]}]),
    "validate": ("reports/validation.json", lambda d: [{k: r[k] for k in ("rule", "passed", "offending_count")}
                                                       for r in d["rules"]]),
    "zoo": ("models/zoo/zoo.json", lambda d: [{k: c[k] for k in ("id", "architecture", "domain",
                                                                  "source_eval_accuracy")}
                                              for c in d["candidates"]]),
    "select": ("reports/selection.json", lambda d: [{"rank": i + 1, "candidate": e["candidate"],
                                                     **{k: (round(e[k], 4) if e.get(k) is not None else None)
                                                        for k in d.get("scale", {})
                                                        if k in e},
                                                     "selected": e["candidate"] == d["selected"]}
                                                    for i, e in enumerate(d["ranking"])]),
    "finetune": ("metrics/finetune/seed-{seed}.json", lambda d: [d]),  # one stage per seed: finetune@<seed>
    "baseline": ("metrics/baseline/seed-{seed}.json", lambda d: [d]),
    "check": ("metrics/check.json", lambda d: [{"seed": r["seed"], "verdict": d["verdict"], "ntg_mean": d["ntg"],
                                                "ntg_low": d["ntg_low"], "ntg_high": d["ntg_high"], **r}
                                               for r in d["per_seed"]]),
    "export": ("metrics/export.json", lambda d: [d]),
}


def _flat(row: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)) for k, v in row.items()}


@task(name="publish")
def publish_stage(project_dir: Path, stage: str) -> str | None:
    """Publish the stage's metrics/report as a table artifact keyed ``graftline-<stage>``; None if it has none.

    Stages made by ``foreach`` (``finetune@1``) publish their own item's file (``metrics/finetune/seed-1.json``)."""
    name, _, item = stage.partition("@")
    if name not in SOURCES:
        return None
    rel, to_rows = SOURCES[name]
    rel = rel.format(seed=item)
    path = project_dir / rel
    if not path.is_file():
        return None
    rows = [_flat(r) for r in to_rows(json.loads(path.read_text()))]
    key = f"graftline-{name}" + (f"-seed-{item}" if item else "")  # artifact keys: lowercase letters, digits, dashes
    create_table_artifact(key=key, table=rows, description=f"{stage}: {rel}")
    return rel


@task(name="publish-summary")
def publish_summary(project_dir: Path) -> str:
    """One markdown artifact with the run's headline (the same text as `graftline summary`)."""
    from graftline.project import Project
    from graftline.summary import headline

    md = "# graftline run\n\n```\n" + headline(Project(Path(project_dir))) + "\n```\n"
    create_markdown_artifact(key="graftline-summary", markdown=md, description="graftline run summary")
    return md


@task(name="publish-run-report")
def publish_run_report(project_dir: Path) -> list[str]:
    """The run report on the dashboard: a link to reports/run.html, its charts as image artifacts (data URIs, so
    they show without a file server), and the selection ranking as markdown. Returns the artifact keys made."""
    import base64

    from prefect.artifacts import create_image_artifact, create_link_artifact

    made = []
    page = Path(project_dir) / "reports" / "run.html"
    if page.is_file():
        create_link_artifact(key="graftline-run-report", link=page.resolve().as_uri(), link_text="reports/run.html",
                             description="the run's one-page report (self-contained HTML: open it in a browser)")
        made.append("graftline-run-report")
    for name, what in (("confusion", "test confusion matrix of the fine-tuned model"),
                       ("selection", "selection score against kNN accuracy, every candidate"),
                       ("curves", "training curves of both arms")):
        png = Path(project_dir) / "reports" / "figures" / f"{name}.png"
        if png.is_file():
            uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            create_image_artifact(image_url=uri, key=f"graftline-{name}", description=what)
            made.append(f"graftline-{name}")
    sel = Path(project_dir) / "reports" / "selection.json"
    if sel.is_file():
        d = json.loads(sel.read_text())
        est = d["estimator"]
        lines = [f"# Source ranking by {est}", "", "| # | candidate | " + est + " | knn |", "|---|---|---|---|"]
        for i, r in enumerate(d["ranking"], 1):
            mark = " **(selected)**" if r["candidate"] == d["selected"] else ""
            lines.append(f"| {i} | {r['candidate']}{mark} | {r.get(est, float('nan')):+.4f} | "
                         f"{r.get('knn', float('nan')):.3f} |")
        lines += ["", d["why"]]
        create_markdown_artifact(key="graftline-ranking", markdown="\n".join(lines), description="selection ranking")
        made.append("graftline-ranking")
    return made
