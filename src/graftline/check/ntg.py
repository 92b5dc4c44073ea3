"""The check stage: transfer against scratch over paired seeds on the held-out test split, and its gate.

For each pair the sequential design trained (``check.seeds`` in order, up to the first one an earlier look found
not needed: check/sequential.py) the two arms (``models/finetuned/seed-<s>``, ``models/baseline/seed-<s>``, same
architecture, data, data order, augmentation and budget) are scored image by image on the test split; the verdict
(check/verdict.py) is the mean NTG with a bootstrap interval over test images and seeds, per-seed McNemar p-values
and per-class NTG. ``negative`` fails the gate (exit 1, export blocked); ``inconclusive`` warns, or fails with
``check.on_inconclusive: fail``; ``check.max_forgetting`` also fails a transfer that forgot too much of its source.
Every prediction is kept in reports/test_predictions.json, so the report draws the confusion matrix without
running the models a second time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from graftline.check.sequential import run_sequential
from graftline.config import CheckParams
from graftline.data.dataset import load_split
from graftline.errors import GateFailed, ModelError
from graftline.eval.logits import predict_logits
from graftline.models import weights
from graftline.models.card import ModelCard
from graftline.project import Project
from graftline.results import CheckPredictions, CheckResult, SeedPredictions, TrainResult
from graftline.results.looks import skipped

log = logging.getLogger(__name__)


def _predict(model_dir: Path, proj: Project, cache: dict) -> tuple[np.ndarray, ModelCard]:
    """The arm's predicted class per test image, and its model card."""
    model, card = weights.load(model_dir / "model")
    pre = card.preprocess
    key = (card.in_chans, pre.size, pre.color_mode, pre.max_pixels)
    if key not in cache:  # both arms and every seed share one decoded test split
        cache[key] = load_split(proj.prepared, proj.root, "test", card.in_chans, pre.size, pre)
    test = cache[key]
    return predict_logits(model, test.data, pre.mean, pre.std).argmax(1).numpy(), card


def _forgetting(metrics_dir: Path, seeds: list[int]) -> float | None:
    values = []
    for s in seeds:
        path = metrics_dir / "finetune" / f"seed-{s}.json"
        f = TrainResult.read(path).forgetting if path.is_file() else None
        if f is not None:
            values.append(f.forgetting)
    return float(np.mean(values)) if values else None


def _trained(p: CheckParams, proj: Project) -> list[int]:
    """The pairs the sequential design trained: check.seeds up to the first one its look found not needed."""
    out = []
    for seed in p.seeds:
        skips = [skipped(proj, arm, seed) is not None for arm in ("finetune", "baseline")]
        if any(skips):
            if not all(skips):
                raise ModelError(f"pair {seed}: one arm trained and the other was not needed "
                                 f"({proj.arm('finetune', seed)}, {proj.arm('baseline', seed)}): the two were "
                                 f"gated by different looks. Re-run both (`dvc repro --force finetune@{seed} "
                                 f"baseline@{seed}`).")
            break
        out.append(seed)
    if not out:
        raise ModelError(f"no trained pair among check.seeds {p.seeds}: the first pair is always trained; run "
                         "`dvc repro` (or `graftline finetune` and `graftline baseline`).")
    return out


def _rates(proj: Project, seed: int) -> dict[str, float]:
    path = {arm: proj.arm_metrics(arm, seed) for arm in ("finetune", "baseline")}
    return {name: TrainResult.read(path[arm]).lr for name, arm in (("transfer", "finetune"), ("scratch", "baseline"))
            if path[arm].is_file()}


def run_check(p: CheckParams, proj: Project) -> CheckResult:
    """Score both arms of every seed on the test split; write metrics/check.json and reports/test_predictions.json;
    raise GateFailed on a failed gate."""
    cache: dict = {}
    preds, tmeta = [], {}
    trained = _trained(p, proj)
    for seed in trained:
        transfer, tmeta = _predict(proj.arm("finetune", seed), proj, cache)
        scratch, _ = _predict(proj.arm("baseline", seed), proj, cache)
        preds.append(SeedPredictions(seed=seed, transfer=transfer.tolist(), scratch=scratch.tolist()))
    test = next(iter(cache.values()))
    y = test.y.numpy()
    CheckPredictions(data_hash=test.meta["data_hash"], classes=list(test.classes), labels=y.tolist(),
                     seeds=preds).write(proj.test_predictions)
    seq = run_sequential(np.stack([np.asarray(s.transfer) == y for s in preds]),
                         np.stack([np.asarray(s.scratch) == y for s in preds]), y, list(test.classes), p.seeds,
                         p.min_seeds, p.max_ntg, p.confidence, p.bootstrap)
    v = seq.verdict
    metrics_path = proj.check_json
    forgetting = _forgetting(proj.metrics, trained)
    forgot_too_much = p.max_forgetting is not None and forgetting is not None and forgetting > p.max_forgetting
    verdict = "negative" if forgot_too_much else v.verdict
    fail = verdict == "negative" or (verdict == "inconclusive" and p.on_inconclusive == "fail")
    result = CheckResult(
        verdict=verdict, ntg=v.ntg, ntg_low=v.ntg_low, ntg_high=v.ntg_high, confidence=v.confidence,
        max_ntg=p.max_ntg, passed=not fail, seeds=v.seeds, exported_seed=p.seeds[0], test_images=v.test_images,
        transfer_acc=v.transfer_acc, scratch_acc=v.scratch_acc, per_seed=v.per_seed, per_class_ntg=v.per_class,
        variance=v.variance, advice=v.advice, forgetting=forgetting, max_forgetting=p.max_forgetting,
        source=tmeta.lineage.source, architecture=tmeta.architecture, data_hash=test.meta["data_hash"],
        pairs_used=seq.pairs_used, min_seeds=p.min_seeds, max_seeds=p.max_seeds, stop_reason=seq.stop_reason,
        family_confidence=p.confidence, lr=_rates(proj, trained[0]), lr_search=p.lr_search)
    result.write(metrics_path)
    where = (f"transfer from {result.source} {v.transfer_acc:.3f} vs scratch {v.scratch_acc:.3f} on "
             f"{v.test_images} test images x {len(v.seeds)} seeds ({seq.stop_reason}): NTG {v.ntg:+.3f}, "
             f"{100 * v.confidence:.2f}% "
             f"interval [{v.ntg_low:+.3f}, {v.ntg_high:+.3f}]")
    if forgot_too_much:
        raise GateFailed(f"the transfer model forgot {forgetting:.3f} of its source task's accuracy (mean over seeds) "
                         f"> check.max_forgetting = {p.max_forgetting} ({metrics_path}); {where}. Use a regularizer "
                         "(finetune.regularizer: l2_sp or ewc) or a gentler strategy (lp_ft, progressive).")
    if verdict == "negative":
        raise GateFailed(f"negative transfer: {where}, wholly above check.max_ntg = {p.max_ntg:+.3f} "
                         f"({metrics_path}). Pick another source (select.candidates), revisit the fine-tuning recipe, "
                         "or raise check.max_ntg if a loss that small is acceptable.")
    if verdict == "inconclusive":
        msg = f"inconclusive: {where} straddles the thresholds (0 and max_ntg {p.max_ntg:+.3f}); {v.advice}."
        if fail:
            raise GateFailed(msg + f" check.on_inconclusive is fail ({metrics_path}); set it to warn to let a tie "
                                   "through.")
        log.warning("check: %s", msg)
    return result
