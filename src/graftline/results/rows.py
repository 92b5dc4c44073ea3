"""The nested rows of the typed results (graftline.results): what a result holds besides its top-level numbers.

Each row forbids unknown keys like its result does, so a renamed key inside ``per_seed`` or ``ranking`` fails where
the file is written or read, not as a ``KeyError`` (or a silent ``None``) in some reader.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Subsample(Row):
    """The few-label cap (data.train_per_class / val_per_class) and how many images it left out, per split."""

    train_per_class: Optional[int]
    val_per_class: Optional[int]
    dropped: dict[str, int]


class Observed(Row):
    """What GX measured for one rule (``observed_value``'s type depends on the expectation)."""

    observed_value: Any = None
    element_count: Optional[int] = None
    unexpected_count: Optional[int] = None
    unexpected_percent: Optional[float] = None
    psi: Optional[dict[str, float]] = None  # the drift rule: PSI per data feature


class RuleResult(Row):
    """One validation rule's outcome (validate/suite.py)."""

    rule: str
    table: str
    expectation: str
    severity: str  # error | warn | off
    passed: bool
    observed: Observed
    offending: list[str]
    offending_count: int
    offending_paths: list[str] = []
    explain: str


class ScoredOn(Row):
    """Which labelled target images the candidates were scored on."""

    splits: list[str]
    images: int
    views: int = 1
    classes: int


class Preprocessing(Row):
    input_size: list[int]
    mean: list[float]
    std: list[float]


class CandidateSpec(Row):
    """A resolved candidate as ``models.candidates.Candidate.to_dict()`` writes it (``Candidate.from_dict`` reads
    ``spec.model_dump()`` back)."""

    name: str
    kind: str  # zoo | hub | file
    ref: str
    architecture: Optional[str] = None
    model_kwargs: dict[str, Any] = {}  # timm's create_model keywords: free-form by design
    input_size: Optional[list[int]] = None
    mean: Optional[list[float]] = None
    std: Optional[list[float]] = None


class RankedCandidate(Row):
    """One candidate of reports/selection.json. In the file its estimator scores sit beside these keys (one column
    per estimator, e.g. ``"logme": 1.23``); here they are ``scores``, keyed by the report's ``scale`` names, so the
    estimators a report shows come from the report itself."""

    candidate: str
    kind: str
    architecture: str
    feature_dim: int
    source_classes: Optional[int] = None  # None: a headless backbone (no LEEP/NCE)
    preprocessing: Preprocessing
    weights_sha256: Optional[str] = None
    spec: CandidateSpec
    scores: dict[str, Optional[float]] = {}


class Skipped(Row):
    candidate: str
    reason: str


class Forgetting(Row):
    """How much of its source task the fine-tuned body lost (eval/forgetting.py): before - after."""

    source_eval: str
    source_eval_images: int
    source_acc_before: float
    source_acc_after: float
    forgetting: float


class Probe(Row):
    """The linear-probe phase of linear_probe / lp_ft."""

    steps: int
    val_acc: Optional[float]


class UnfreezeStep(Row):
    epoch: int
    groups_unfrozen: int


class AdaptFacts(Row):
    """An adapt-mode arm (adapt/stage.py): the method, its weight, the unlabelled target and the label-free
    criteria (DEV, SND: adapt/criteria.py)."""

    method: str
    trade_off: float
    target_images: int
    dev: float
    snd: float
    target: str


class SeedPair(Row):
    """One seed of the check: both arms scored on the same test images (check/verdict.py)."""

    seed: int
    transfer_acc: float
    scratch_acc: float
    ntg: float
    mcnemar_p: float
    transfer_only_right: int  # discordant test images, McNemar's b and c
    scratch_only_right: int


class SeedPredictions(Row):
    seed: int
    transfer: list[int]  # predicted class index per test image, in the test split's order
    scratch: list[int]


class AdaptSeed(Row):
    seed: int
    target_acc: float
    source_only_acc: float


class Int8Report(Row):
    """The INT8 decision (export/quantize.py): kept only when faster here without losing accuracy."""

    kept: bool
    reason: str  # which conditions held; the latencies it measured: .graftline/timings/export.json
    test_acc: dict[str, float]
    top1_agreement: float
    threads: int
