"""The run report's key content as markdown for the dashboard (browsers refuse a file:// link to reports/run.html
from a web page), read through the typed results like the page itself."""

from __future__ import annotations

import json
from pathlib import Path

from graftline.project import Project
from graftline.results import AdaptResult, CheckResult, ExportResult

VERDICT_MARK = {"positive": "transfer helped", "inconclusive": "no winner yet", "negative": "transfer HURT"}


def _g(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def _verdict(c: CheckResult, t: str, s: str) -> list[str]:
    gate = "passed" if c.passed else "**FAILED: export blocked**"
    return [f"## Verdict: **{c.verdict}** ({VERDICT_MARK.get(c.verdict, c.verdict)}; gate {gate})", "",
            f"{t.capitalize()} **{c.transfer_acc:.3f}** vs {s} **{c.scratch_acc:.3f}** on {c.test_images} test "
            f"images ({100 * (c.transfer_acc - c.scratch_acc):+.1f} points, mean of {len(c.seeds)} paired seeds), "
            f"source `{c.source}`. NTG {c.ntg:+.3f}, interval {c.ntg_low:+.3f} to {c.ntg_high:+.3f} "
            f"({c.confidence:.0%} confidence); negative above NTG {c.max_ntg:+.3f}.", "",
            *([f"> {c.advice}", ""] if c.advice else []),
            f"### Every seed ({', '.join(map(str, c.seeds))})", "",
            f"| seed | {t} acc | {s} acc | NTG | McNemar p | only {t} right | only {s} right |",
            "|---|---|---|---|---|---|---|",
            *[f"| {r.seed}{' (exported)' if r.seed == c.exported_seed else ''} | {r.transfer_acc:.3f} | "
              f"{r.scratch_acc:.3f} | {r.ntg:+.3f} | {r.mcnemar_p:.2g} | {r.transfer_only_right} | "
              f"{r.scratch_only_right} |" for r in c.per_seed], "",
            f"NTG = err({t}) - err({s}): above 0 the source hurt.", "",
            "### Per-class NTG (mean over seeds, worst first)", "", "| class | NTG |", "|---|---|",
            *[f"| {k} | {v:+.3f} |" for k, v in sorted(c.per_class_ntg.items(), key=lambda kv: -kv[1])], ""]


def _export(e: ExportResult) -> list[str]:
    out = ["## Export", "",
           f"ONNX parity with torch **{'passed' if e.passed else 'FAILED'}**: max abs difference "
           f"{e.parity_max_abs_diff:.3g} (tolerance {e.parity_allowed or e.parity_atol:.3g}), top-1 agreement {e.top1_agreement:.2%}, "
           f"ONNX test accuracy {e.onnx_test_acc:.4f} (opset {e.opset}).", ""]
    q = e.int8
    if q is not None:
        fp32, int8 = q.test_acc.get("fp32"), q.test_acc.get("int8")
        cost = " n/a" if fp32 is None or int8 is None else f" {100 * (int8 - fp32):+.1f} points"
        why = q.reason.removeprefix("kept: ").removeprefix("refused: ")
        out += [f"INT8 **{'kept (shipped beside fp32)' if q.kept else 'refused'}**: {why}; accuracy cost{cost}, top-1 "
                f"agreement with fp32 {q.top1_agreement:.2%}, timed on {q.threads} thread(s).", ""]
    return out


def digest(root: Path) -> str | None:
    """The run report's key content as markdown, read through the typed results: the verdict and its evidence
    (every seed with its McNemar p, per-class NTG), the export's parity and the INT8 decision, the judged numbers of
    metrics/run.json, and where the full page is. None before any of those files exists."""
    proj = Project(root)
    check = CheckResult.read(proj.check_json) if proj.check_json.is_file() else None
    export = ExportResult.read(proj.export_json) if proj.export_json.is_file() else None
    numbers = root / "metrics" / "run.json"
    if check is None and export is None and not numbers.is_file():
        return None
    adapt = AdaptResult.read(proj.adapt_json) if proj.adapt_json.is_file() else None
    t, s = (("transfer", "scratch") if adapt is None or adapt.method == "none"
            else (f"adapted ({adapt.method})", "source-only"))
    md = ["# graftline run report", ""]
    md += _verdict(check, t, s) if check is not None else ["No check result: the run stopped before the check.", ""]
    md += _export(export) if export is not None else []
    if numbers.is_file():
        rows = [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                for k, v in json.loads(numbers.read_text()).items()]
        md += ["## The numbers that judge the run (metrics/run.json)", "", "| metric | value |", "|---|---|", *rows,
               ""]
    page = proj.report_html
    md.append(f"The full page (charts, lineage): `{page}`. It is self-contained: open it on the machine that ran "
              f"the flow (`xdg-open` / `open`), or serve its folder and browse http://127.0.0.1:8000/run.html: "
              f"`python -m http.server -b 127.0.0.1 -d {page.parent}`." if page.is_file()
              else "The full page reports/run.html is not written yet.")
    return "\n".join(md) + "\n"
