"""The run report as the Prefect dashboard shows it (graftline_flows.report.digest): markdown a browser opens, with
the evidence of the page itself (verdict, every seed's McNemar p, per-class NTG, the INT8 decision and its cost,
ONNX parity), read from real result files; no file:// link, which a browser refuses from a web page."""

from __future__ import annotations

import json
from pathlib import Path

from graftline.project import Project
from graftline.report import run_report
from graftline.results import CheckResult
from tests.unit.test_run_report import INIT_STAGES, _project


def test_the_digest_holds_the_report_evidence(tmp_path: Path):
    from graftline_flows.digest import digest

    root = _project(tmp_path, 0.95, INIT_STAGES)
    run_report(Project(root))
    md = digest(root)
    chk = CheckResult.read(root / "metrics/check.json")
    assert "## Verdict: **positive** (transfer helped; gate passed)" in md
    assert f"mean of {len(chk.seeds)} paired seeds" in md and "### Every seed (3, 5)" in md
    for r in chk.per_seed:  # every seed's row with its McNemar p, the exported one marked
        assert (f"| {r.seed}{' (exported)' if r.seed == 3 else ''} | {r.transfer_acc:.3f} | {r.scratch_acc:.3f} | "
                f"{r.ntg:+.3f} | {r.mcnemar_p:.2g} | {r.transfer_only_right} | {r.scratch_only_right} |") in md
    worst_first = [line.split(" | ")[0][2:] for line in md.splitlines()
                   if line[2:].split(" | ")[0] in chk.per_class_ntg]
    assert worst_first == sorted(chk.per_class_ntg, key=lambda c: -chk.per_class_ntg[c])
    assert "INT8 **refused**: not faster" in md and "accuracy cost +0.0 points, top-1 agreement with fp32 100.00%" in md
    assert "ONNX parity with torch **passed**: max abs difference 1e-06" in md
    assert "file://" not in md and str(root / "reports" / "run.html") in md


def test_a_negative_verdict_and_a_kept_int8_read_as_such(tmp_path: Path):
    from graftline_flows.digest import digest

    root = _project(tmp_path, 0.0, INIT_STAGES)
    e = json.loads((root / "metrics/export.json").read_text())
    e["int8"] = {**e["int8"], "kept": True, "reason": "kept: 1.8x faster", "test_acc": {"fp32": 0.9, "int8": 0.892}}
    (root / "metrics/export.json").write_text(json.dumps(e))
    md = digest(root)
    assert "## Verdict: **negative** (transfer HURT; gate **FAILED: export blocked**)" in md
    assert "INT8 **kept (shipped beside fp32)**: 1.8x faster" in md and "accuracy cost -0.8 points" in md
    assert "The full page reports/run.html is not written yet." in md  # run_report not run here


def test_no_digest_before_any_result(tmp_path: Path):
    from graftline_flows.digest import digest

    assert digest(tmp_path) is None


def test_the_flow_runs_stage_table_links_the_champion_comparison():
    """The summary on the flow run links the compare stage's artifact (champion vs challenger), as it links every
    stage's numbers: the dashboard's Artifacts tab is in no order of ours."""
    from graftline_flows.production import KEY
    from graftline_flows.report import stage_rows

    rows = stage_rows([("export", "Completed"), ("compare", "Completed"), ("report", "Skipped")],
                      {KEY: "id-1", "graftline-09-export": "id-0"})
    compare = next(r for r in rows if r.startswith("| compare "))
    assert f"[{KEY}](/artifacts/artifact/id-1)" in compare and "**ran**" in compare
    assert "/artifacts/artifact/id-0" in next(r for r in rows if r.startswith("| export "))
