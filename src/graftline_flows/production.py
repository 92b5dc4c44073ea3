"""After a run: the comparison with the champion on the dashboard, and the promotion it allows.

``publish_comparison`` makes the markdown artifact ``graftline-10-compare`` (champion vs challenger, Δaccuracy with
its interval, per class, drift, the decision and why) from metrics/compare.json. ``act`` does what ``make promote``
does, from the flow: when the comparison decided ``promote`` or ``first``, it commits the run's git-tracked results
(dvc.lock and the metrics files: the tag must point at what was measured) and moves the stage with gto
(graftline_flows.registry, which refuses unless every gate passed); otherwise the stage stays where it is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from graftline.project import Project
from graftline.results import CompareResult
from graftline_flows import registry

from graftline_flows.report import COMPARE_KEY as KEY  # noqa: E402 - after export (09), before graftline-10-report-*
RUN_FILES = ("dvc.yaml", "dvc.lock", "params.yaml", "metrics/run.json", "metrics/compare.json", "metrics/adapt.json")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def comparison_markdown(c: CompareResult) -> str:
    head = [f"# Champion vs challenger: **{c.decision}**", "", c.why, ""]
    if c.champion is None:
        return "\n".join(head + [f"No model is at stage `{c.stage}` yet: this run's model is the first "
                                 f"({c.test_images} test images)."])
    if c.delta is None:
        return "\n".join(head + [f"Against {c.champion.version}: no test image was left to compare on."])
    ch = c.champion
    lines = head + [
        f"Mode {c.mode}, margin {100 * c.margin:.1f} points, {100 * c.confidence:.0f} % paired-bootstrap interval; "
        f"{c.compared_images} of today's {c.test_images} test images ({c.excluded_images} left out: the champion "
        "trained or validated on them).", "",
        "| model | version | accuracy |", "|---|---|---|",
        f"| champion (`{c.stage}`) | {ch.version} (`{ch.tag}`, {ch.commit[:10]}) | {_pct(c.champion_acc)} |",
        f"| challenger (this run) | weights {c.challenger_weights_sha256[:12]} | {_pct(c.challenger_acc)} |", "",
        f"**Δaccuracy {_pts(c.delta)} points**, interval [{_pts(c.delta_low)}, {_pts(c.delta_high)}]; "
        f"only the challenger right on {c.challenger_only_right} images, only the champion on "
        f"{c.champion_only_right} (McNemar p {c.mcnemar_p:.3g}).", "",
        "| class | images | champion | challenger | Δ (points) | interval |", "|---|---|---|---|---|---|"]
    lines += [f"| {k.label} | {k.images} | {_pct(k.champion_acc)} | {_pct(k.challenger_acc)} | {_pts(k.delta)} | "
              f"[{_pts(k.delta_low)}, {_pts(k.delta_high)}] |" for k in c.per_class]
    if c.drift:
        lines += ["", "Drift of today's data against the champion's training profile (PSI: < 0.1 stable, "
                  "> 0.25 drifted):", "", "| feature | PSI |", "|---|---|"]
        lines += [f"| {f.feature} | {f.psi:.4f} |" for f in c.drift]
    return "\n".join(lines)


def publish_comparison(root: Path) -> str | None:
    """The comparison as a markdown artifact of the flow run; None when the compare stage wrote nothing."""
    path = Project(root).compare_json
    if not path.is_file():
        return None
    md = comparison_markdown(CompareResult.read(path))
    create_markdown_artifact(key=KEY, markdown=md, description="this run's model against the registry's champion")
    return md


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def act(root: Path) -> dict:
    """Commit the run and promote (to the comparison's stage, compare.stage) when the comparison allows it;
    {decision, promoted (tag or None), why}."""
    logger = get_run_logger()
    path = Project(root).compare_json
    if not path.is_file():
        return {"decision": None, "promoted": None, "why": f"{path} not found: nothing compared"}
    c = CompareResult.read(path)
    stage = c.stage
    if c.decision not in ("promote", "first"):
        logger.info("%s stays where it is: %s: %s", stage, c.decision, c.why)
        return {"decision": c.decision, "promoted": None, "why": c.why}
    files = [f for f in RUN_FILES if (root / f).exists()]
    _git(root, "add", "--", *files)
    if _git(root, "diff", "--cached", "--quiet").returncode != 0:
        r = _git(root, "commit", "-q", "-m", f"graftline run: {c.decision} ({c.data_hash[:12]})", "--", *files)
        if r.returncode != 0:
            return {"decision": c.decision, "promoted": None, "why": f"git commit failed: {r.stderr.strip()}"}
    try:
        tag = registry.promote(root, stage)
    except registry.Refused as exc:
        logger.warning("%s not moved: %s", stage, exc)
        return {"decision": c.decision, "promoted": None, "why": str(exc)}
    logger.info("%s -> %s: %s", stage, tag, c.why)
    return {"decision": c.decision, "promoted": tag, "why": c.why}
