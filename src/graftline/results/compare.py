"""``metrics/compare.json``: this run's model (the challenger) against the registry's champion on today's test split."""

from __future__ import annotations

from typing import Literal, Optional

from graftline.results import Result
from graftline.results.rows import Row

Decision = Literal["promote", "keep", "inconclusive", "first"]


class ClassDelta(Row):
    """One class: the accuracy of both models on its test images and the gain's interval."""

    label: str
    images: int
    challenger_acc: float
    champion_acc: float
    delta: float
    delta_low: float
    delta_high: float


class FeatureDrift(Row):
    feature: str
    psi: float


class Champion(Row):
    """Where the champion came from: its registry version, the commit its tag points at, the tag and its message."""

    version: str
    commit: str
    tag: str
    message: str = ""
    onnx_sha256: str
    weights_sha256: str
    data_hash: Optional[str] = None


class CompareResult(Result):
    """The decision and everything it rests on. The numbers (accuracies, delta, its interval, psi) are metrics that
    `dvc exp show` compares; ``decision`` and ``why`` say what the promotion does and why."""

    made_by: str = "`graftline compare`"
    decision: Decision
    why: str
    mode: str
    margin: float
    confidence: float
    stage: str
    challenger_onnx_sha256: str
    challenger_weights_sha256: str
    data_hash: str
    champion: Optional[Champion] = None  # None: nothing at the stage yet (decision "first")
    test_images: int  # today's test split
    compared_images: int = 0  # of them, those the champion never trained or validated on
    excluded_images: int = 0  # seen by the champion in its train/val splits: left out
    challenger_acc: Optional[float] = None  # on the compared images
    champion_acc: Optional[float] = None
    delta: Optional[float] = None  # challenger - champion, paired per image
    delta_low: Optional[float] = None
    delta_high: Optional[float] = None
    mcnemar_p: Optional[float] = None  # exact, on the discordant images
    challenger_only_right: int = 0
    champion_only_right: int = 0
    per_class: list[ClassDelta] = []
    drift: list[FeatureDrift] = []  # today's data against the champion's training profile
    max_psi: Optional[float] = None
