"""The run report as one self-contained HTML page: inline CSS, images as base64 data URIs, no network at all.

Colours carry meaning: a positive verdict is green, an inconclusive one amber, a negative one red (``VERDICT``).
A small inline script marks ``<body data-images="ok N">`` once every image has decoded (``broken: ...`` when one
has not), so a headless browser can check the page the way a reader would see it.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any, Iterable, Optional

from graftline.report.collect import RunData, lineage
from graftline.report.comparison import comparison_section

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;
color:#1d1d1f;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:right}th{background:#f5f5f7}td:first-child,th:first-child{text-align:left}.ok{color:#137333}
.bad{color:#c5221f;font-weight:600}.warn{color:#b06000;font-weight:600}.big{font-size:1.25rem}.sel{background:#e8f0fe}
code{font-size:.8rem;word-break:break-all}img{max-width:100%;border:1px solid #eee}.muted{color:#666}"""

SCRIPT = """window.addEventListener('load',function(){var imgs=[].slice.call(document.images);
var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).map(function(i){return i.alt});
document.body.setAttribute('data-images',bad.length?'broken: '+bad.join(', '):'ok '+imgs.length);});"""


VERDICT = {"positive": "ok", "inconclusive": "warn", "negative": "bad"}  # verdict -> CSS class (colour)


def esc(x: Any) -> str:
    return html.escape(str(x))


def num(x: Any, fmt: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return format(x, fmt) if isinstance(x, (int, float)) and not isinstance(x, bool) else esc(x)


def img(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table(head: Iterable[str], rows: Iterable[Iterable[str]], classes: Optional[list[str]] = None) -> str:
    h = "".join(f"<th>{esc(c)}</th>" for c in head)
    body = "".join(f'<tr class="{classes[i] if classes else ""}">' + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
                   for i, r in enumerate(rows))
    return f"<table><tr>{h}</tr>{body}</table>"


def _headline(d: RunData) -> str:
    chk, names = d.check, d.arm_names
    if not chk:
        return "<p class='bad'>No check result yet: the run stopped before the check stage.</p>"
    t, s = names["finetune"], names["baseline"]
    gate = "" if chk.passed else " <span class='bad'>Gate FAILED: export blocked.</span>"
    return (f"<p class='big'>{esc(t.capitalize())} <b>{num(chk.transfer_acc)}</b> vs {esc(s)} "
            f"<b>{num(chk.scratch_acc)}</b> on {chk.test_images} test images "
            f"({100 * (chk.transfer_acc - chk.scratch_acc):+.1f} points, mean of {len(chk.seeds)} paired seeds), "
            f"source {esc(chk.source)}.</p>"
            f"<p>Verdict: <span class='verdict {VERDICT.get(chk.verdict, 'warn')}'>{esc(chk.verdict)}</span> &mdash; "
            f"NTG {num(chk.ntg, '+.3f')} (interval {num(chk.ntg_low, '+.3f')} to {num(chk.ntg_high, '+.3f')}, "
            f"{num(chk.confidence, '.2%')} confidence); negative above NTG {num(chk.max_ntg, '+.3f')}.{gate}</p>"
            + (f"<p class='warn'>{esc(chk.advice)}.</p>" if chk.advice else ""))


def _evidence(d: RunData) -> str:
    chk = d.check
    if not chk:
        return ""
    t, s = d.arm_names["finetune"], d.arm_names["baseline"]
    rows = [[str(r.seed) + (" (exported)" if r.seed == chk.exported_seed else ""), num(r.transfer_acc),
             num(r.scratch_acc), num(r.ntg, "+.3f"), num(r.mcnemar_p, ".2g"), str(r.transfer_only_right),
             str(r.scratch_only_right)] for r in chk.per_seed]
    per_class = sorted(chk.per_class_ntg.items(), key=lambda kv: -kv[1])  # the classes transfer hurt most first
    out = [f"<h2>Evidence: {len(chk.seeds)} paired seeds ({esc(', '.join(map(str, chk.seeds)))})</h2>"
           + (f"<p>Sequential seeds: {esc(chk.stop_reason)}, of at most {chk.max_seeds} pairs.</p>"
              if chk.stop_reason else ""),
           table(["seed", f"{t} acc", f"{s} acc", "NTG", "McNemar p", f"only {t} right", f"only {s} right"], rows),
           f"<p class='muted'>NTG = err({esc(t)}) &minus; err({esc(s)}), &gt; 0 means the source hurt. Variance of "
           f"the mean from the test images {num(chk.variance.get('test_images'), '.2g')}, from the seeds "
           f"{num(chk.variance.get('seeds'), '.2g')}.</p>",
           "<h3>Per-class NTG (mean over seeds)</h3>",
           table(["class", "NTG"], [[esc(c), f"<span class='{'bad' if v > chk.max_ntg else 'warn' if v > 0 else 'ok' if v < 0 else ''}'>"
                                    f"{num(v, '+.3f')}</span>"] for c, v in per_class])]
    if chk.forgetting is not None:
        out.append(f"<p>Forgetting of the source task (mean over seeds): {num(chk.forgetting, '+.3f')}"
                   + (f", gate {num(chk.max_forgetting, '.3f')}" if chk.max_forgetting is not None else "") + ".</p>")
    return "".join(out)


def _selection(d: RunData, scatter: Optional[bytes]) -> str:
    sel = d.selection
    if not sel:
        return ""
    present = sel.estimators  # the estimators the report holds scores for, not a list kept here
    rows = [[str(i), esc(r.candidate), esc(r.architecture)] + [num(r.scores.get(e), "+.4f") for e in present]
            for i, r in enumerate(sel.ranking, 1)]
    cls = ["sel" if r.candidate == sel.selected else "" for r in sel.ranking]
    out = [f"<h2>Source selection</h2><p>Ranked by <b>{esc(sel.estimator)}</b>: {esc(sel.why)}.</p>",
           table(["#", "candidate", "architecture", *present], rows, cls)]
    if sel.skipped:
        out.append("<p class='warn'>Skipped: " + esc("; ".join(f"{s.candidate}: {s.reason}" for s in sel.skipped))
                   + "</p>")
    if scatter:
        out.append(img(scatter, "selection scatter"))
    return "".join(out)


def _training(d: RunData, curves: Optional[bytes]) -> str:
    runs = [(d.arm_names[a], s, r) for a in ("finetune", "baseline") for s, r in getattr(d, a).items()]
    if not runs:
        return ""
    keys = ("val_acc", "best_val_acc", "kept_step", "steps", "lr", "strategy", "regularizer")
    rows = [[esc(n), str(s)] + [num(getattr(r, k), ".4g") for k in keys] for n, s, r in runs]
    out = ["<h2>Training (both arms, every seed)</h2>", table(["arm", "seed", *keys], rows)]
    forgot = [(s, r.forgetting) for s, r in d.finetune.items() if r.forgetting]
    if forgot:
        out.append("<p>Source task accuracy before &rarr; after fine-tuning: " + "; ".join(
            f"seed {s}: {num(f.source_acc_before)} &rarr; {num(f.source_acc_after)} (forgetting "
            f"{num(f.forgetting, '+.3f')})" for s, f in forgot) + ".</p>")
    if curves:
        out.append(img(curves, "training curves"))
    return "".join(out)


def _test(d: RunData, confusion_png: Optional[bytes]) -> str:
    if d.per_class is None:
        return ""
    rows = [[esc(c), num(a), str(n)] for c, a, n in d.per_class]
    return (f"<h2>Test set: confusion matrix and per-class accuracy ({esc(d.arm_names['finetune'])} model, "
            f"seed {d.seed})</h2>" + (img(confusion_png, "confusion matrix") if confusion_png else "")
            + table(["class", "accuracy", "test images"], rows))


def _validation(d: RunData) -> str:
    v = d.validation
    if not v:
        return ""
    rows = [[esc(r.rule), esc(r.severity),
             f"<span class='{'ok' if r.passed else ('bad' if r.severity == 'error' else 'warn')}'>"
             f"{'pass' if r.passed else 'FAIL'}</span>", str(r.offending_count)] for r in v.rules]
    return (f"<h2>Data validation</h2><p>{v.images} images, {len(v.classes)} classes; "
            f"{sum(r.passed for r in v.rules)}/{len(v.rules)} rules passed, {len(v.warnings)} "
            "warning(s).</p>" + table(["rule", "severity", "result", "offending"], rows))


def _export(d: RunData) -> str:
    e = d.export
    if not e:
        return ""
    keys = ("parity_max_abs_diff", "parity_allowed", "float32_error", "top1_agreement", "parity_atol",
            "onnx_test_acc", "opset")
    out = [f"<h2>Export</h2><p>ONNX parity with torch: <span class='{'ok' if e.passed else 'bad'}'>"
           f"{'passed' if e.passed else 'FAILED'}</span>.</p>",
           table(["measure", "value"], [[k, num(getattr(e, k), ".4g")] for k in keys])]
    q = e.int8
    if q:
        out.append(f"<h3>INT8: <span class='{'ok' if q.kept else 'warn'}'>{'kept' if q.kept else 'refused'}</span>"
                   f"</h3><p>{esc(q.reason)}.</p>" + table(
                       ["", "fp32", "int8"],
                       [["test accuracy", num(q.test_acc.get("fp32"), ".4f"), num(q.test_acc.get("int8"), ".4f")]])
                   + f"<p class='muted'>Latency measured on {q.threads} thread(s) (the figures: "
                     f".graftline/timings/export.json; this page holds no timing, so it hashes the same on every "
                     f"re-run); top-1 agreement with fp32 {num(q.top1_agreement, '.2%')}.</p>")
    return "".join(out)


def _lineage(d: RunData) -> str:
    rows = [[esc(w), f"<code>{esc(h)}</code>", f"<code>{esc(p)}</code>"] for w, h, p in lineage(d)]
    return "<h2>Lineage</h2>" + table(["what", "sha256 / id", "file"], rows) if rows else ""


def render(d: RunData, figures: dict[str, Optional[bytes]], title: str = "graftline run") -> str:
    missing = (f"<p class='muted'>Not produced (yet): {esc(', '.join(d.missing))}.</p>" if d.missing else "")
    body = "".join([f"<h1>{esc(title)}</h1>", _headline(d), missing, _evidence(d),
                    _selection(d, figures.get("selection")), _training(d, figures.get("curves")),
                    _test(d, figures.get("confusion")), _validation(d), _export(d),
                    comparison_section(d.root, esc, table), _lineage(d)])
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body data-images='pending'>{body}<script>{SCRIPT}</script></body></html>\n")
