"""The check stage's entry: the paired-seed verdict (check/ntg.py), then the adapt-mode summary (check/adapted.py).

In adapt mode the two arms are the adapted and the source-only model, so the same verdict answers "did adaptation
help on the target's test split"; metrics/adapt.json is written either way (``method: none`` says the mode is off),
and also when the gate fails, so a blocked run still explains itself.
"""

from __future__ import annotations

from graftline.check.adapted import adapt_summary
from graftline.check.ntg import run_check
from graftline.config import AdaptParams, CheckParams
from graftline.errors import GateFailed
from graftline.project import Project
from graftline.results import CheckResult


def run_check_stage(check: CheckParams, adapt: AdaptParams, proj: Project) -> CheckResult:
    """Score both arms of every seed in ``check.seeds`` on the test split -> metrics/check.json,
    reports/test_predictions.json and metrics/adapt.json. Raises GateFailed (exit 1) on a failed gate, after
    writing all three."""
    try:
        result = run_check(check, proj)
    except GateFailed:
        adapt_summary(adapt, proj, CheckResult.read(proj.check_json))
        raise
    adapt_summary(adapt, proj, result)
    return result
