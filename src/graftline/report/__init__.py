"""The report stage: one self-contained page per run (reports/run.html) from the stages' output files."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from graftline.project import Project, write_bytes_atomic, write_json_atomic

log = logging.getLogger(__name__)


def _figures(d) -> dict:
    from graftline.report import figures

    out = {}
    sel = d.get("selection")
    if sel:
        est = sel["estimator"]
        other = "knn" if est != "knn" else "ensemble"  # kNN: leave-one-out accuracy measured on the features
        ranked = [r for r in sel["ranking"] if r.get(est) is not None and r.get(other) is not None]
        if ranked:
            out["selection"] = figures.selection_scatter(
                [r["candidate"] for r in ranked], [r[est] for r in ranked], [r[other] for r in ranked],
                sel["selected"], f"{est} (selection score)", f"{other} (measured on the target features)")
    arms = {a: d.root / "metrics" / a / f"seed-{d.seed}" / "plots" / "metrics" for a in ("finetune", "baseline")}
    if any(p.is_dir() for p in arms.values()):
        out["curves"] = figures.curves({a: p for a, p in arms.items() if p.is_dir()})
    if d.confusion is not None:
        out["confusion"] = figures.confusion(d.confusion, d.classes)
    return out


def _plot_data(d, folder: Path) -> None:
    """CSV files for ``dvc plots`` (dvc.yaml's templates): the test predictions (``confusion``) and every
    candidate's selection score against kNN accuracy (``scatter``)."""
    if d.predictions is not None:
        y, p, classes = d.predictions
        rows = "".join(f"{classes[a]},{classes[b]}\n" for a, b in zip(y, p))
        write_bytes_atomic(folder / "predictions.csv", ("actual,predicted\n" + rows).encode())
    sel = d.get("selection")
    if sel:
        est = sel["estimator"]
        rows = "".join(f"{r['candidate'].replace(',', ';')},{r.get(est)},{r.get('knn')}\n" for r in sel["ranking"])
        write_bytes_atomic(folder / "selection.csv", (f"candidate,{est},knn\n" + rows).encode())


def run_report(proj: Project) -> dict:
    """Write ``html_path`` (self-contained), each chart as a PNG in ``figures_dir`` (for dashboards) and the numbers
    that judge the run in ``metrics_path`` (DVC's metrics file)."""
    root, html_path, figures_dir, metrics_path = proj.root, proj.report_html, proj.figures, proj.run_metrics
    from graftline.report.collect import collect, judged
    from graftline.report.html import render

    t0 = time.perf_counter()
    data = collect(root)
    figs = _figures(data)
    for name, png in figs.items():
        write_bytes_atomic(figures_dir / f"{name}.png", png)
    write_bytes_atomic(html_path, render(data, figs).encode())
    if metrics_path is not None:
        write_json_atomic(metrics_path, judged(data))
    _plot_data(data, html_path.parent / "plots")
    seconds = time.perf_counter() - t0
    log.debug("report: %s (%d charts, %.1f s)%s", html_path, len(figs), seconds,
             f"; not produced yet: {', '.join(data.missing)}" if data.missing else "")
    return {"html": str(html_path), "figures": sorted(figs), "seconds": seconds, "missing": data.missing}
