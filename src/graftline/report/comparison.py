"""The run report's champion-vs-challenger section, from metrics/compare.json (the compare stage's result)."""

from __future__ import annotations

from pathlib import Path

from graftline.project import Project
from graftline.results.compare import CompareResult


def _pts(x) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def comparison_section(root: Path, esc, table) -> str:
    """The section's HTML ('' when the compare stage has not run); ``esc``/``table`` are the page's helpers."""
    path = Project(root).compare_json
    if not path.is_file():
        return ""
    c = CompareResult.read(path)
    cls = {"promote": "ok", "first": "ok", "keep": "bad", "inconclusive": "warn"}[c.decision]
    out = [f"<h2>Champion vs challenger: <span class='{cls}'>{esc(c.decision)}</span></h2><p>{esc(c.why)}.</p>"]
    if c.champion is None:
        return "".join(out)
    ch = c.champion
    out.append(f"<p>Against {esc(ch.version)} at <code>{esc(c.stage)}</code> (<code>{esc(ch.tag)}</code>, commit "
               f"<code>{esc(ch.commit[:10])}</code>), on {c.compared_images} of today's {c.test_images} test images "
               f"({c.excluded_images} left out: the champion trained or validated on them); {esc(c.mode)}, margin "
               f"{100 * c.margin:.1f} points, {100 * c.confidence:.0f} % paired-bootstrap interval.</p>")
    out.append(table(["", "champion", "challenger", "Δ (points)", "interval"],
                     [["accuracy", _pct(c.champion_acc), _pct(c.challenger_acc), _pts(c.delta),
                       f"[{_pts(c.delta_low)}, {_pts(c.delta_high)}]"]]
                     + [[esc(k.label) + f" ({k.images})", _pct(k.champion_acc), _pct(k.challenger_acc),
                         _pts(k.delta), f"[{_pts(k.delta_low)}, {_pts(k.delta_high)}]"] for k in c.per_class]))
    if c.drift:
        out.append("<p class='muted'>Drift against the champion's training data (PSI; &gt; 0.25 drifted): "
                   + ", ".join(f"{esc(f.feature)} {f.psi:.3f}" for f in c.drift) + ".</p>")
    return "".join(out)
