"""reports/validation.html: one self-contained page (no network, no external files) a person can read offline.

Every rule with its severity and outcome; for each rule that did not pass, its offending entries with a thumbnail
of each offending image embedded as a base64 PNG. GX's own Data Docs load CSS/JS from CDNs; this page does not.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from graftline.atomic import write_bytes_atomic

THUMB = 96
CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.pass{color:#1a7f37}
.error{color:#c00;font-weight:bold}.warn{color:#b58100;font-weight:bold}.off{color:#888}
.thumbs{display:flex;flex-wrap:wrap;gap:10px}.thumb{width:150px;font-size:11px;word-break:break-all}
.thumb img{max-width:96px;max-height:96px;image-rendering:pixelated;border:1px solid #999;display:block}
.nothumb{width:96px;height:96px;border:1px dashed #c00;display:flex;align-items:center;justify-content:center}"""


def thumbnail(path: Path, max_pixels: int | None, color_mode: str) -> str | None:
    """A data: URI of a small PNG of ``path``, or None if it cannot be decoded."""
    from graftline.data.images import normalise, open_image

    try:
        with open_image(path, max_pixels) as raw:
            im = normalise(raw, color_mode)
        im.thumbnail((THUMB, THUMB))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:  # noqa: BLE001 - an undecodable image is shown as a placeholder, it is already reported
        return None


def render(report: dict, root: Path, meta: dict) -> str:
    e = html.escape
    status = "passed" if report["passed"] else "FAILED"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>graftline validation: {status}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Data validation: <span class='{'pass' if report['passed'] else 'error'}'>{status}</span></h1>",
             f"<p>{report.get('scanned') or report['images']} files checked, {report['images']} kept"
             + (f" (few-label subsample {e(str(report['subsample']))})" if report.get("subsample") else "")
             + f", {len(report['classes'])} classes, data hash "
             f"<code>{e(report['data_hash'][:12])}</code>, root <code>{e(str(meta.get('root', '')))}</code>.</p>",
             "<table><tr><th>rule</th><th>severity</th><th>result</th><th>offending</th><th>what it means</th></tr>"]
    for r in report["rules"]:
        res = "pass" if r["passed"] else r["severity"]
        parts.append(f"<tr><td><a href='#{e(r['rule'])}'>{e(r['rule'])}</a></td><td>{e(r['severity'])}</td>"
                     f"<td class='{res}'>{'passed' if r['passed'] else 'failed'}</td><td>{r['offending_count']}</td>"
                     f"<td>{e(r['explain'])}</td></tr>")
    parts.append("</table>")
    for r in report["rules"]:
        if r["passed"]:
            continue
        parts.append(f"<h2 id='{e(r['rule'])}' class='{e(r['severity'])}'>{e(r['rule'])} ({e(r['severity'])}): "
                     f"{r['offending_count']} offending</h2><p>{e(r['explain'])}</p>")
        if r.get("offending_paths"):
            parts.append("<div class='thumbs'>")
            for path, text in zip(r["offending_paths"], r["offending"]):
                uri = thumbnail(root / path, meta.get("max_pixels"), meta.get("color_mode", "auto"))
                img = f"<img src='{uri}' alt='{e(path)}'>" if uri else "<div class='nothumb'>cannot decode</div>"
                parts.append(f"<div class='thumb'>{img}{e(text)}</div>")
            parts.append("</div>")
        else:
            parts.append("<ul>" + "".join(f"<li>{e(o)}</li>" for o in r["offending"]) + "</ul>")
        if r["offending_count"] > len(r["offending"]):
            parts.append(f"<p>... and {r['offending_count'] - len(r['offending'])} more (see validation.json's "
                         "observed counts).</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html(path: Path, report: dict, root: Path, meta: dict) -> None:
    write_bytes_atomic(path, render(report, root, meta).encode("utf-8"))
