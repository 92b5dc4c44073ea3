"""Where a project's files live.

Every command runs in a project directory (the one holding params.yaml and dvc.yaml) and writes relative to it,
atomically (graftline.atomic).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from graftline.atomic import write_json_atomic


@dataclass(frozen=True)
class Project:
    root: Path

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def demo(self) -> Path:
        return self.path("data", "demo")

    @property
    def prepared(self) -> Path:
        return self.path("data", "prepared")

    @property
    def zoo(self) -> Path:
        return self.path("models", "zoo")

    @property
    def finetuned(self) -> Path:
        return self.path("models", "finetuned")

    @property
    def baseline(self) -> Path:
        return self.path("models", "baseline")

    @property
    def exported(self) -> Path:
        return self.path("models", "export")

    @property
    def reports(self) -> Path:
        return self.path("reports")

    @property
    def metrics(self) -> Path:
        return self.path("metrics")

    # Every artifact a stage writes or reads, named once (dvc.yaml's deps/outs are the same paths).
    @property
    def staged(self) -> Path:
        return self.path("data", "staged")

    @property
    def sources(self) -> Path:
        return self.demo / "sources"

    @property
    def staged_meta(self) -> Path:
        return self.staged / "meta.json"

    @property
    def prepared_meta(self) -> Path:
        return self.prepared / "meta.json"

    @property
    def demo_summary(self) -> Path:
        return self.demo / "README.json"

    @property
    def zoo_index(self) -> Path:
        return self.zoo / "zoo.json"

    @property
    def onnx_model(self) -> Path:
        return self.exported / "model.onnx"

    @property
    def validation(self) -> Path:
        return self.reports / "validation.json"

    @property
    def selection(self) -> Path:
        return self.reports / "selection.json"

    @property
    def check_json(self) -> Path:
        return self.metrics / "check.json"

    @property
    def test_predictions(self) -> Path:
        """check's predictions of both arms of every seed on the test split (the report reads them, runs nothing)."""
        return self.reports / "test_predictions.json"

    @property
    def adapt_json(self) -> Path:
        return self.metrics / "adapt.json"

    @property
    def export_json(self) -> Path:
        return self.metrics / "export.json"

    @property
    def compare_json(self) -> Path:
        """This run's model against the registry's champion (the compare stage)."""
        return self.metrics / "compare.json"

    @property
    def champion(self) -> Path:
        """Where the registry helper puts the champion's files for the compare stage (not a DVC output)."""
        return self.path(".graftline", "champion")

    @property
    def report_html(self) -> Path:
        return self.reports / "run.html"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"

    @property
    def run_metrics(self) -> Path:
        return self.metrics / "run.json"

    @property
    def state(self) -> Path:
        """.graftline: the stamps (a DVC output), and beside them what no stage output may hold (git-ignored)."""
        return self.path(".graftline")

    def timings(self, stage: str) -> Path:
        """.graftline/timings/<stage>.json (``finetune/seed-0``, ``zoo``, ...): how long the last run of a stage took.
        Not a DVC output and not in git: a timing differs on every run, so any file DVC hashes must not hold one."""
        return self.state / "timings" / f"{stage}.json"

    @property
    def lock(self) -> Path:
        """.graftline/lock: held by every graftline stage command while it runs (one writer per project)."""
        return self.state / "lock"

    def arm_root(self, arm: str) -> Path:
        """models/finetuned or models/baseline: the parent of every seed's model of that arm."""
        return {"finetune": self.finetuned, "baseline": self.baseline}[arm]

    def arm(self, arm: str, seed: int) -> Path:
        """One arm's model for one seed: models/finetuned/seed-<s> (arm finetune) or models/baseline/seed-<s>."""
        return self.arm_root(arm) / f"seed-{seed}"

    def arm_metrics(self, arm: str, seed: int) -> Path:
        """That run's result JSON (its curves are the folder of the same name without .json)."""
        return self.metrics / arm / f"seed-{seed}.json"


def record_timings(proj: Project, stage: str, timings: dict) -> None:
    """Merge ``timings`` into ``.graftline/timings/<stage>.json``. Best effort: a clock reading is never worth
    failing a stage for, so an unwritable file is logged and skipped."""
    path = proj.timings(stage)
    try:
        old = json.loads(path.read_text()) if path.is_file() else {}
        write_json_atomic(path, {**(old if isinstance(old, dict) else {}), **timings})
    except (OSError, ValueError) as exc:
        __import__("logging").getLogger(__name__).debug("timings not recorded in %s: %s", path, exc)
