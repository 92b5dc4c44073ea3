"""metrics/adapt.json: the check's verdict read as adapted vs source-only (adapt mode).

In adapt mode the finetune arm is the adapted model and the baseline arm the source-only model (graftline.adapt,
through the CLI), so the check's paired-seed verdict is exactly "did adaptation help on the target's test split";
negative = adaptation made it worse, and the gate blocks the export as for negative transfer. This module reads
results only (it imports no other stage).
"""

from __future__ import annotations

import logging
import statistics

from graftline.config import AdaptParams
from graftline.errors import ModelError
from graftline.project import Project
from graftline.results import AdaptResult, AdaptSeed, CheckResult, TrainResult

log = logging.getLogger(__name__)


def _dev(proj: Project, arm: str, seed: int) -> float:
    """The arm's label-free DEV score; a supervised arm (no adapt record) is an error, not a silent gap."""
    path = proj.arm_metrics(arm, seed)
    facts = TrainResult.read(path).adapt
    if facts is None:
        raise ModelError(f"{path}: no `adapt` record although adapt.method is set: this {arm} arm was trained by the "
                         f"supervised stage. Run `dvc repro` (or `graftline {arm} --seed {seed}`) to train it in "
                         "adapt mode.")
    return facts.dev


def adapt_summary(adapt: AdaptParams, proj: Project, check: CheckResult) -> AdaptResult:
    """metrics/adapt.json from the check's paired seeds (always written: method none says the mode is off)."""
    path = proj.adapt_json
    if adapt.method == "none":
        r = AdaptResult(method="none")
        r.write(path)
        return r
    dev = {arm: statistics.mean(_dev(proj, arm, s) for s in check.seeds) for arm in ("finetune", "baseline")}
    r = AdaptResult(
        method=adapt.method, target_acc=check.transfer_acc, source_only_acc=check.scratch_acc,
        gain=check.transfer_acc - check.scratch_acc, seeds=check.seeds, verdict=check.verdict,
        ntg=check.ntg, ntg_low=check.ntg_low, ntg_high=check.ntg_high,
        per_seed=[AdaptSeed(seed=d.seed, target_acc=d.transfer_acc, source_only_acc=d.scratch_acc)
                  for d in check.per_seed],
        dev_adapted=dev["finetune"], dev_source_only=dev["baseline"],
        label_free_prefers="adapted" if dev["finetune"] < dev["baseline"] else "source_only",
        test_images=check.test_images)
    r.write(path)
    log.info("adapt: %s %.3f vs source-only %.3f on the target's test split (%+.3f)", r.method, r.target_acc,
             r.source_only_acc, r.gain)
    return r
