"""The report stage: one self-contained page per run (reports/run.html) from the stages' typed results.

The page shows the evidence behind the verdict, not the verdict alone: the seeds, each seed's paired accuracies,
NTG and McNemar p, the per-class NTG, every seed's training curves, the INT8 decision with its measured cost. It
reads check's saved test predictions (reports/test_predictions.json) instead of running a model again.
"""

from __future__ import annotations

import logging
import time

from graftline.project import Project

from graftline.atomic import write_bytes_atomic, write_json_atomic

log = logging.getLogger(__name__)


def _figures(d) -> dict[str, bytes]:
    from graftline.report import figures

    out = {}
    sel = d.selection
    if sel:
        est = sel.estimator
        other = "knn" if est != "knn" else "ensemble"  # kNN: leave-one-out accuracy measured on the features
        ranked = [r for r in sel.ranking if r.scores.get(est) is not None and r.scores.get(other) is not None]
        if ranked:
            out["selection"] = figures.selection_scatter(
                [r.candidate for r in ranked], [r.scores[est] for r in ranked], [r.scores[other] for r in ranked],
                sel.selected, f"{est} (selection score)", f"{other} (measured on the target features)")
    arms = {a: {s: Project(d.root).arm_metrics(a, s).with_suffix("") / "plots" / "metrics" for s in d.seeds}
            for a in ("finetune", "baseline")}
    arms = {a: {s: p for s, p in by_seed.items() if p.is_dir()} for a, by_seed in arms.items()}
    if any(arms.values()):
        out["curves"] = figures.curves({a: s for a, s in arms.items() if s}, d.arm_names)
    if d.confusion is not None:
        out["confusion"] = figures.confusion(
            d.confusion, d.predictions.classes,
            f"test confusion matrix ({d.arm_names['finetune']} model, seed {d.seed})")
    return out


def _plot_data(d, folder) -> None:
    """CSV files for ``dvc plots`` (dvc.yaml's templates): the test predictions (``confusion``) and every
    candidate's scores, one column per estimator (``scatter``)."""
    if d.predictions is not None:
        p = d.predictions
        rows = "".join(f"{p.classes[a]},{p.classes[b]}\n" for a, b in zip(p.labels, p.of(d.seed).transfer))
        write_bytes_atomic(folder / "predictions.csv", ("actual,predicted\n" + rows).encode())
    if d.selection:
        names = d.selection.estimators
        rows = "".join(",".join([r.candidate.replace(",", ";"), *(str(r.scores.get(e)) for e in names)]) + "\n"
                       for r in d.selection.ranking)
        write_bytes_atomic(folder / "selection.csv", (",".join(["candidate", *names]) + "\n" + rows).encode())


def run_report(proj: Project) -> dict:
    """Write reports/run.html (self-contained), each chart as a PNG in reports/figures (for dashboards), the CSVs
    for ``dvc plots`` in reports/plots and the numbers that judge the run in metrics/run.json (DVC's metrics)."""
    from graftline.report.collect import collect, judged
    from graftline.report.html import render

    t0 = time.perf_counter()
    data = collect(proj.root)
    figs = _figures(data)
    for name, png in figs.items():
        write_bytes_atomic(proj.figures / f"{name}.png", png)
    write_bytes_atomic(proj.report_html, render(data, figs).encode())
    write_json_atomic(proj.run_metrics, judged(data))
    _plot_data(data, proj.reports / "plots")
    seconds = time.perf_counter() - t0
    log.debug("report: %s (%d charts, %.1f s)%s", proj.report_html, len(figs), seconds,
              f"; not produced yet: {', '.join(data.missing)}" if data.missing else "")
    return {"html": str(proj.report_html), "figures": sorted(figs), "seconds": seconds,
            "missing": data.missing}
