"""The run's headline, from the typed results the stages wrote: one definition for the CLI and the dashboard.

Whatever has run is shown; a stage that has not (or a gate that stopped the run before it) is named instead of
failing, so ``graftline summary`` also explains a run that a gate stopped.
"""

from __future__ import annotations

from pathlib import Path

from graftline.project import Project
from graftline.results import AdaptResult, CheckResult, ExportResult, SelectionReport


def _rel(proj: Project, path: Path) -> str:
    try:
        return path.resolve().relative_to(proj.root.resolve()).as_posix()
    except ValueError:
        return str(path)


def headline(proj: Project) -> str:
    lines: list[str] = []
    paths = {"select": proj.selection, "check": proj.check_json, "export": proj.export_json}
    missing = [name for name, p in paths.items() if not p.is_file()]
    if paths["select"].is_file():
        sel = SelectionReport.read(paths["select"])
        on = sel.scored_on
        views = f" x {on.views} views" if on.views > 1 else ""
        lines.append(f"Source ranking by {sel.estimator} (scored on {on.images} labelled images{views}):")
        for i, e in enumerate(sel.ranking, 1):
            mark = "  <- selected" if e.candidate == sel.selected else ""
            lines.append(f"  {i}. {e.candidate:<36} {e.scores[sel.estimator]:+.4f}{mark}")
    if paths["check"].is_file():
        chk = CheckResult.read(paths["check"])
        adapt_path = proj.adapt_json
        method = AdaptResult.read(adapt_path).method if adapt_path.is_file() else "none"
        arms = "Transfer vs scratch" if method == "none" else f"Adapted ({method}) vs source-only"
        lines.append(f"{arms} on {chk.test_images} test images, {len(chk.seeds)} paired seeds"
                     f"{f' ({chk.stop_reason})' if chk.stop_reason else ''}: "
                     f"{chk.transfer_acc:.3f} vs {chk.scratch_acc:.3f} "
                     f"({100 * (chk.transfer_acc - chk.scratch_acc):+.1f} points)")
        lines.append(f"Negative transfer gap NTG = {chk.ntg:+.3f}, {100 * chk.confidence:.4g}% interval "
                     f"[{chk.ntg_low:+.3f}, {chk.ntg_high:+.3f}]: {chk.verdict}"
                     f"{'' if chk.passed else ' (gate FAILED: export blocked)'}")
        if chk.advice:
            lines.append(f"  {chk.advice}")
    if paths["export"].is_file():
        exp = ExportResult.read(paths["export"])
        lines.append(f"ONNX parity: max |logit diff| {exp.parity_max_abs_diff:.2e}, top-1 agreement "
                     f"{100 * exp.top1_agreement:.1f}% -> {_rel(proj, proj.exported / 'model.onnx')}")
    if missing:
        lines.append(f"Not run yet (or stopped by a gate before): {', '.join(missing)} "
                     "(`dvc repro` runs what is missing; `dvc status` says what is stale).")
    return "\n".join(lines)
