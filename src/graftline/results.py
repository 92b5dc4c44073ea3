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

from pydantic import BaseModel, ConfigDict

from graftline.errors import GraftlineError

T = TypeVar("T", bound="Result")


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid")
    made_by: str = ""  # the command that writes it, for the error when it is missing (not written to the file)

    def write(self, path: Path) -> None:
        from graftline.project import write_json_atomic

        write_json_atomic(path, self.model_dump(exclude={"made_by"}))

    @classmethod
    def read(cls: type[T], path: Path) -> T:
        if not path.is_file():
            how = cls.model_fields["made_by"].default or "the pipeline"
            raise GraftlineError(f"{path} not found: run {how} first (`dvc repro`, or `make run` for the demo).")
        return cls.model_validate(json.loads(path.read_text()))


class PrepareResult(Result):
    """``data/staged/meta.json`` (then ``data/prepared/meta.json``)."""

    made_by: str = "`graftline prepare`"
    root: str
    source: str
    data_hash: str
    images: int
    splits: dict[str, int]
    scanned: int
    subsample: Optional[dict[str, Any]] = None  # the few-label cap and what it left out per split (null = all kept)
    color_mode: str = "auto"
    max_pixels: Optional[int] = None
    facts: Optional[dict[str, int]] = None  # decoded / cached counts: reported, never written (cache state)


class ValidationReport(Result):
    """``reports/validation.json``."""

    made_by: str = "`graftline validate`"
    data_hash: str
    images: int  # in the manifest (after the few-label subsample)
    scanned: Optional[int] = None  # files the rules checked: every scanned file, whatever the subsample
    subsample: Optional[dict[str, Any]] = None
    classes: list[str]
    passed: bool
    errors: list[str]
    warnings: list[str]
    rules: list[dict[str, Any]]
    drift: Optional[dict[str, Any]] = None
    seconds: dict[str, float] = {}


class ZooCandidate(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
    scored_on: dict[str, Any]
    data_hash: str
    ranking: list[dict[str, Any]]
    selected: str
    selected_spec: Any
    why: str
    skipped: list[dict[str, str]] = []
    scale: dict[str, str] = {}


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
    val_images: int
    seconds: float
    resumed_from_step: int
    processes: int
    init: str
    source: str
    forgetting: Optional[dict[str, Any]] = None
    model_sha256: Optional[str] = None
    probe: Optional[dict[str, Any]] = None
    layer_decay: Optional[float] = None
    layer_groups: Optional[int] = None
    unfreeze_schedule: Optional[list[dict[str, int]]] = None
    adapt: Optional[dict[str, Any]] = None  # adapt mode: method, trade_off, target_images, dev and snd (label-free)


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
    per_seed: list[dict[str, Any]]
    per_class_ntg: dict[str, float]
    variance: dict[str, float]
    advice: str = ""
    forgetting: Optional[float] = None
    max_forgetting: Optional[float] = None
    source: str
    architecture: str
    data_hash: str


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
    per_seed: list[dict[str, Any]] = []
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
    onnx_test_acc: float
    export_seconds: float
    opset: int
    onnx_sha256: str
    model_sha256: Optional[str]
    data_hash: str
    preprocess: str = "float"
    int8: Optional[dict[str, Any]] = None  # kept or refused, with the measured speed-up and accuracies
