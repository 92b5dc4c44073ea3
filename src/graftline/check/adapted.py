"""metrics/adapt.json: the check's verdict read as adapted vs source-only (adapt mode).

In adapt mode the finetune arm is the adapted model and the baseline arm the source-only model (graftline.adapt,
through the CLI), so the check's paired-seed verdict is exactly "did adaptation help on the target's test split";
negative = adaptation made it worse, and the gate blocks the export as for negative transfer. This module reads
results only (it imports no other stage).
"""

from __future__ import annotations

import logging
import statistics

from graftline.check.ntg import run_check
from graftline.errors import GateFailed
from graftline.results import AdaptResult, CheckResult, TrainResult

log = logging.getLogger(__name__)


def checked(params, proj):
    """The check stage, then metrics/adapt.json (written before a failed gate's error goes on)."""
    path = proj.check_json
    try:
        r = run_check(params.check, proj)
    except GateFailed:
        adapt_summary(params, proj, CheckResult.read(path))
        raise
    adapt_summary(params, proj, r)
    return r


def adapt_summary(params, proj, check) -> None:
    """metrics/adapt.json from the check's paired seeds (always written: method none says the mode is off)."""
    path = proj.adapt_json
    if params.adapt.method == "none":
        AdaptResult(method="none").write(path)
        return
    dev = {arm: [TrainResult.read(proj.arm_metrics(arm, s)).adapt["dev"] for s in check.seeds]
           for arm in ("finetune", "baseline")}
    r = AdaptResult(
        method=params.adapt.method, target_acc=check.transfer_acc, source_only_acc=check.scratch_acc,
        gain=check.transfer_acc - check.scratch_acc, seeds=check.seeds, verdict=check.verdict,
        ntg=check.ntg, ntg_low=check.ntg_low, ntg_high=check.ntg_high,
        per_seed=[{"seed": d["seed"], "target_acc": d.get("transfer_acc"), "source_only_acc": d.get("scratch_acc")}
                  for d in check.per_seed],
        dev_adapted=statistics.mean(dev["finetune"]), dev_source_only=statistics.mean(dev["baseline"]),
        label_free_prefers="adapted" if statistics.mean(dev["finetune"]) < statistics.mean(dev["baseline"])
        else "source_only",
        test_images=check.test_images)
    r.write(path)
    log.info("adapt: %s %.3f vs source-only %.3f on the target's test split (%+.3f)", r.method, r.target_acc,
             r.source_only_acc, r.gain)
