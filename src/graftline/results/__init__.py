"""Typed stage results: one definition per file a stage writes and others read.

A stage builds its result, writes it with ``write(path)`` (atomically), and everything downstream — ``graftline
summary``, the Prefect artifacts (``graftline_flows.report``), the tests — reads it back with
``Model.read(path)``, which names the file and the command that makes it when it is missing. Unknown keys are
rejected on both sides, so a renamed field fails loudly instead of silently reading ``None``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer, model_validator

from graftline.errors import GraftlineError
from graftline.results.rows import (AdaptFacts, AdaptSeed, CandidateSpec, Forgetting, Int8Report, Probe,
                                    RankedCandidate, Row, RuleResult, ScoredOn, SeedPair, SeedPredictions, Skipped,
                                    Subsample, UnfreezeStep)

T = TypeVar("T", bound="Result")


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid")
    made_by: str = ""  # the command that writes it, for the error when it is missing (not written to the file)

    def write(self, path: Path) -> None:
        from graftline.atomic import write_json_atomic

        write_json_atomic(path, self.model_dump(exclude={"made_by"}))

    @classmethod
    def read(cls: type[T], path: Path) -> T:
        if not path.is_file():
            how = cls.model_fields["made_by"].default or "the pipeline"
            raise GraftlineError(f"{path} not found: run {how} first (`dvc repro`, or `make run` for the demo).")
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except ValueError as exc:  # a JSONDecodeError or pydantic's ValidationError
            how = cls.model_fields["made_by"].default or "the pipeline"
            why = (f"{'.'.join(map(str, exc.errors()[0]['loc']))}: {exc.errors()[0]['msg']}"
                   if isinstance(exc, ValidationError) else str(exc))
            raise GraftlineError(f"{path} is not a valid {cls.__name__} ({why}): it was "
                                 f"written by another graftline version or edited by hand. Re-run {how} "
                                 "(`dvc repro --force` on its stage).") from None


class PrepareResult(Result):
    """``data/staged/meta.json`` (then ``data/prepared/meta.json``)."""

    made_by: str = "`graftline prepare`"
    root: str
    source: str
    data_hash: str
    images: int
    splits: dict[str, int]
    scanned: int
    subsample: Optional[Subsample] = None  # the few-label cap and what it left out per split (null = all kept)
    color_mode: str = "auto"
    max_pixels: Optional[int] = None
    facts: Optional[dict[str, int]] = None  # decoded / cached counts: reported, never written (cache state)


class ValidationReport(Result):
    """``reports/validation.json``."""

    made_by: str = "`graftline validate`"
    data_hash: str
    images: int  # in the manifest (after the few-label subsample)
    scanned: Optional[int] = None  # files the rules checked: every scanned file, whatever the subsample
    subsample: Optional[Subsample] = None
    classes: list[str]
    passed: bool
    errors: list[str]
    warnings: list[str]
    rules: list[RuleResult]
    seconds: dict[str, float] = {}


class ZooCandidate(Row):
    id: str
    architecture: str
    domain: str
    source_eval_accuracy: float
    weights_sha256: str


class ZooResult(Result):
    """``models/zoo/zoo.json``."""

    made_by: str = "`graftline zoo`"
    candidates: list[ZooCandidate]


class SelectionReport(Result):
    """``reports/selection.json``: every candidate's scores, the ranking and the pick."""

    made_by: str = "`graftline select`"
    estimator: str
    scored_on: ScoredOn
    data_hash: str
    ranking: list[RankedCandidate]
    selected: str
    selected_spec: CandidateSpec  # the pick, as models/candidates.py reads it back
    why: str
    skipped: list[Skipped] = []
    scale: dict[str, str] = {}  # estimator -> what its numbers mean: also the names of each candidate's scores

    @model_validator(mode="before")
    @classmethod
    def _scores_apart(cls, data: Any) -> Any:
        """In the file each candidate's scores are columns beside its facts; here they go to ``scores``."""
        if isinstance(data, dict) and isinstance(data.get("ranking"), list):
            names = set(data.get("scale") or {})
            data = {**data, "ranking": [
                {**{k: v for k, v in r.items() if k not in names},
                 "scores": {**r.get("scores", {}), **{k: v for k, v in r.items() if k in names}}}
                if isinstance(r, dict) else r for r in data["ranking"]]}
        return data

    @model_serializer(mode="wrap")
    def _scores_as_columns(self, handler) -> dict[str, Any]:
        out = handler(self)
        for r in out.get("ranking", []):
            r.update(r.pop("scores", {}))
        return out

    @property
    def estimators(self) -> list[str]:
        """The estimators scored, in the report's order (``scale``), then any others a candidate carries."""
        seen = [e for e in self.scale if any(e in r.scores for r in self.ranking)]
        return seen + sorted({e for r in self.ranking for e in r.scores} - set(seen))

    def pick(self) -> RankedCandidate:
        return next(r for r in self.ranking if r.candidate == self.selected)


class TrainResult(Result):
    """``metrics/<arm>/seed-<seed>.json`` (arm: finetune, baseline): one arm's training with one seed."""

    made_by: str = "`graftline finetune` / `graftline baseline`"
    seed: int = 0
    val_acc: Optional[float]
    best_val_acc: Optional[float]
    best_step: int
    kept_step: int
    steps: int
    steps_done: int
    stopped_early: bool
    lr: float
    strategy: str
    regularizer: str
    train_images: int
    val_images: int  # how long it took and the step it resumed from: .graftline/timings/<arm>/seed-<s>.json
    processes: int
    init: str
    source: str
    forgetting: Optional[Forgetting] = None
    model_sha256: Optional[str] = None
    probe: Optional[Probe] = None
    layer_decay: Optional[float] = None
    layer_groups: Optional[int] = None
    unfreeze_schedule: Optional[list[UnfreezeStep]] = None
    adapt: Optional[AdaptFacts] = None  # adapt mode: method, trade_off, target_images, dev and snd (label-free)


class CheckResult(Result):
    """``metrics/check.json``: transfer against scratch over paired seeds on the test split (check/verdict.py)."""

    made_by: str = "`graftline check`"
    verdict: str  # positive | negative | inconclusive
    ntg: float  # mean over seeds of err(transfer) - err(scratch)
    ntg_low: float
    ntg_high: float
    confidence: float
    max_ntg: float
    passed: bool  # the gate: False on negative (or on inconclusive with on_inconclusive: fail)
    seeds: list[int]
    exported_seed: int
    test_images: int
    transfer_acc: float  # mean over seeds
    scratch_acc: float
    per_seed: list[SeedPair]
    per_class_ntg: dict[str, float]
    variance: dict[str, float]
    advice: str = ""
    forgetting: Optional[float] = None
    max_forgetting: Optional[float] = None
    source: str
    architecture: str
    data_hash: str
    # the sequential design (check/sequential.py): pairs trained, the planned range, why it stopped
    pairs_used: Optional[int] = None
    min_seeds: Optional[int] = None
    max_seeds: Optional[int] = None
    stop_reason: str = ""  # "settled at look 2 (3 pairs)", "max seeds reached (5 pairs)"
    family_confidence: Optional[float] = None  # check.confidence: over all looks (`confidence` is one look's)
    lr: dict[str, float] = {}  # each arm's learning rate (transfer, scratch), read from the trained arms
    lr_search: str = ""  # how those rates were chosen (check.lr_search): equal tuning effort for both arms


class AdaptResult(Result):
    """``metrics/adapt.json``: adapted vs source-only on the target's test split (adapt mode; check's paired seeds)."""

    made_by: str = "`graftline check` (with adapt.method set)"
    method: str  # none: the mode is off and nothing else is written
    target_acc: Optional[float] = None  # mean over seeds
    source_only_acc: Optional[float] = None
    gain: Optional[float] = None
    seeds: list[int] = []
    verdict: Optional[str] = None  # check's: negative = adaptation made the target worse
    ntg: Optional[float] = None
    ntg_low: Optional[float] = None
    ntg_high: Optional[float] = None
    per_seed: list[AdaptSeed] = []
    dev_adapted: Optional[float] = None  # the label-free criterion (DEV, adapt/criteria.py), mean over seeds
    dev_source_only: Optional[float] = None  # lower = preferred
    label_free_prefers: Optional[str] = None  # adapted | source_only: what DEV says without any target label
    test_images: Optional[int] = None


class ExportResult(Result):
    """``metrics/export.json``: the ONNX file and its parity with torch."""

    made_by: str = "`graftline export`"
    parity_max_abs_diff: float
    top1_agreement: float
    parity_atol: float
    passed: bool
    test_images: int
    float32_error: Optional[float] = None  # max |float32 - float64| of torch's own logits (export.float32_error)
    parity_allowed: Optional[float] = None  # the tolerance applied: max(parity_atol, factor x float32_error)
    onnx_test_acc: float  # the export's and the INT8 latency timings: .graftline/timings/export.json
    opset: int
    onnx_sha256: str
    model_sha256: Optional[str]
    data_hash: str
    preprocess: str = "float"
    int8: Optional[Int8Report] = None  # kept or refused, with the measured speed-up and accuracies


# compare.py, looks.py and predictions.py import Result from here, so they come last
from graftline.results.compare import ClassDelta, CompareResult  # noqa: E402,F401
from graftline.results.looks import LookResult, PairGate, PairSkipped, skipped as pair_skipped  # noqa: E402,F401
from graftline.results.predictions import CheckPredictions  # noqa: E402,F401
