"""The run report as one self-contained HTML page: inline CSS, images as base64 data URIs, no network at all.

A small inline script marks ``<body data-images="ok N">`` once every image has decoded (``broken: ...`` when one
has not), so a headless browser can check the page the way a reader would see it.
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any, Iterable, Optional

from graftline.report.collect import RunData, lineage, verdict

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;
color:#1d1d1f;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:right}th{background:#f5f5f7}td:first-child,th:first-child{text-align:left}.ok{color:#137333}
.bad{color:#c5221f;font-weight:600}.warn{color:#b06000}.big{font-size:1.25rem}.sel{background:#e8f0fe}
code{font-size:.8rem;word-break:break-all}img{max-width:100%;border:1px solid #eee}.muted{color:#666}"""

SCRIPT = """window.addEventListener('load',function(){var imgs=[].slice.call(document.images);
var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).map(function(i){return i.alt});
document.body.setAttribute('data-images',bad.length?'broken: '+bad.join(', '):'ok '+imgs.length);});"""


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
    chk, exp = d.get("check"), d.get("export")
    if not chk:
        return "<p class='bad'>No check result yet: the run stopped before the check stage.</p>"
    v = verdict(chk)
    cls = "ok" if v["passed"] else "bad"
    interval = (f" (interval {num(v['low'], '+.3f')} to {num(v['high'], '+.3f')}"
                f"{', ' + num(v['confidence'], '.0%') + ' confidence' if v['confidence'] is not None else ''})"
                if v["low"] is not None and v["high"] is not None else "")
    parts = [f"<p class='big'>Transfer <b>{num(chk['transfer_acc'])}</b> vs scratch <b>{num(chk['scratch_acc'])}"
             f"</b> on {esc(chk['test_images'])} test images "
             f"({100 * (chk['transfer_acc'] - chk['scratch_acc']):+.1f} points), source {esc(chk['source'])}.</p>",
             f"<p>Verdict: <span class='{cls}'>{esc(v['verdict'])}</span> &mdash; NTG {num(v['ntg'], '+.3f')}"
             f"{interval}; gate NTG &le; {num(v['max_ntg'], '+.3f')}.</p>"]
    if exp:
        parts.append(f"<p>ONNX: parity max |diff| {num(exp['parity_max_abs_diff'], '.2e')}, top-1 agreement "
                     f"{num(exp['top1_agreement'], '.2%')}, <span class='{'ok' if exp['passed'] else 'bad'}'>"
                     f"{'passed' if exp['passed'] else 'FAILED'}</span>.</p>")
    return "".join(parts)


def _selection(d: RunData, scatter: Optional[bytes]) -> str:
    sel = d.get("selection")
    if not sel:
        return ""
    present = [e for e in sel.get("scale", {}) if any(e in r for r in sel["ranking"])]  # the score columns
    rows = [[str(i), esc(r["candidate"]), esc(r.get("architecture", ""))] + [num(r.get(e), "+.4f") for e in present]
            for i, r in enumerate(sel["ranking"], 1)]
    cls = ["sel" if r["candidate"] == sel["selected"] else "" for r in sel["ranking"]]
    out = [f"<h2>Source selection</h2><p>Ranked by <b>{esc(sel['estimator'])}</b>: {esc(sel['why'])}.</p>",
           table(["#", "candidate", "architecture", *present], rows, cls)]
    if sel.get("skipped"):
        out.append("<p class='warn'>Skipped: " + esc("; ".join(f"{s.get('candidate')}: {s.get('reason', s)}"
                                                              for s in sel["skipped"])) + "</p>")
    if scatter:
        out.append(img(scatter, "selection scatter"))
    return "".join(out)


def _training(d: RunData, curves: Optional[bytes]) -> str:
    arms = [(n, d.get(n)) for n in ("finetune", "baseline") if d.get(n)]
    if not arms:
        return ""
    keys = ("val_acc", "best_val_acc", "kept_step", "steps", "lr", "strategy", "regularizer", "seconds")
    rows = [[n] + [num(a.get(k), ".4g") for k in keys] for n, a in arms]
    out = ["<h2>Training (both arms)</h2>", table(["arm", *keys], rows)]
    f = (d.get("finetune") or {}).get("forgetting")
    if f:
        out.append(f"<p>Source task accuracy {num(f['source_acc_before'])} &rarr; {num(f['source_acc_after'])} "
                   f"(forgetting {num(f['forgetting'], '+.3f')}).</p>")
    if curves:
        out.append(img(curves, "training curves"))
    return "".join(out)


def _test(d: RunData, confusion_png: Optional[bytes]) -> str:
    if d.per_class is None:
        return ""
    rows = [[esc(c), num(a), str(n)] for c, a, n in d.per_class]
    return ("<h2>Test set: confusion matrix and per-class accuracy</h2>"
            + (img(confusion_png, "confusion matrix") if confusion_png else "")
            + table(["class", "accuracy", "test images"], rows))


def _validation(d: RunData) -> str:
    v = d.get("validation")
    if not v:
        return ""
    rows = [[esc(r["rule"]), esc(r.get("severity", "")),
             f"<span class='{'ok' if r['passed'] else ('bad' if r.get('severity') == 'error' else 'warn')}'>"
             f"{'pass' if r['passed'] else 'FAIL'}</span>", str(r.get("offending_count", 0))] for r in v["rules"]]
    return (f"<h2>Data validation</h2><p>{esc(v['images'])} images, {len(v['classes'])} classes; "
            f"{sum(r['passed'] for r in v['rules'])}/{len(v['rules'])} rules passed, {len(v['warnings'])} "
            "warning(s).</p>" + table(["rule", "severity", "result", "offending"], rows))


def _export(d: RunData) -> str:
    e = d.get("export")
    if not e:
        return ""
    keys = ("parity_max_abs_diff", "top1_agreement", "parity_atol", "onnx_test_acc", "opset", "export_seconds")
    extra = [k for k in e if "latency" in k or "ms" in k.split("_")]
    return "<h2>Export</h2>" + table(["measure", "value"], [[k, num(e[k], ".4g")] for k in (*keys, *extra) if k in e])


def _lineage(d: RunData) -> str:
    rows = [[esc(w), f"<code>{esc(h)}</code>", f"<code>{esc(p)}</code>"] for w, h, p in lineage(d)]
    return "<h2>Lineage</h2>" + table(["what", "sha256 / id", "file"], rows) if rows else ""


def render(d: RunData, figures: dict[str, Optional[bytes]], title: str = "graftline run") -> str:
    missing = (f"<p class='muted'>Not produced (yet): {esc(', '.join(d.missing))}.</p>" if d.missing else "")
    body = "".join([f"<h1>{esc(title)}</h1>", _headline(d), missing, _selection(d, figures.get("selection")),
                    _training(d, figures.get("curves")), _test(d, figures.get("confusion")), _validation(d),
                    _export(d), _lineage(d)])
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body data-images='pending'>{body}<script>{SCRIPT}</script></body></html>\n")
