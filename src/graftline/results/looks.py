"""The sequential design's files (check/sequential.py): the look that gates each pair, and a pair not needed.

``graftline look --seed <seed>`` writes, before that seed's pair trains, ``metrics/looks/look-<seed>.json``
(``LookResult``: every earlier pair's test correctness, so the next look needs only its own pair's models, and the
verdict at this look) and ``metrics/looks/gate-<seed>.json`` (``PairGate``: needed or not, and why not). The pair's
stages depend on the gate only, which stays byte-identical while the pair is needed, so a look re-taken after an
unrelated change (another max_ntg, one more seed) does not re-train a pair that was and stays needed. A pair that is
not needed writes a ``PairSkipped`` in place of each of its
outputs (``not_needed.json`` in the model and curve folders, and the metrics file itself), in seconds, as a cached
DVC stage like any other: a re-run trains nothing already trained, a change upstream re-evaluates the looks.
"""

from __future__ import annotations

from typing import Optional

from graftline.project import Project
from graftline.results import Result
from graftline.results.rows import Row

NOT_NEEDED = "not_needed.json"


class PairCorrectness(Row):
    """One trained pair on the test split: per image, 1 = right, 0 = wrong (one character each)."""

    seed: int
    transfer: str
    scratch: str


class PairGate(Result):
    """``metrics/looks/gate-<seed>.json``: does pair ``seed`` train? (the reason only when it does not)"""

    made_by: str = "`graftline look`"
    seed: int
    needed: bool
    reason: Optional[str] = None


class LookResult(Result):
    """``metrics/looks/look-<seed>.json``: the interim look taken before pair ``seed`` (check/sequential.py)."""

    made_by: str = "`graftline look`"
    seed: int  # the pair this look gates
    needed: bool
    reason: str  # e.g. "1 of min_seeds 2 pairs trained", "look 1 (2 pairs): inconclusive", "settled at look 1"
    look: Optional[int] = None  # the number of the look taken here (None: fewer than min_seeds pairs yet)
    settled_at: Optional[int] = None  # the look that settled the verdict, when one did
    verdict: Optional[str] = None
    ntg: Optional[float] = None
    ntg_low: Optional[float] = None
    ntg_high: Optional[float] = None
    confidence: float  # of each look's interval (the spending rule's share)
    data_hash: str = ""
    labels: list[int] = []
    pairs: list[PairCorrectness] = []  # every pair trained before this one, in order


class PairSkipped(Result):
    """What a pair's stage writes instead of training when an earlier look settled the verdict."""

    made_by: str = "`graftline finetune` / `graftline baseline`"
    seed: int
    arm: str
    not_needed: str  # the reason, e.g. "settled at look 1 (2 pairs): positive"


def look_path(proj: Project, seed: int):
    return proj.metrics / "looks" / f"look-{seed}.json"


def gate_path(proj: Project, seed: int):
    return proj.metrics / "looks" / f"gate-{seed}.json"


def skipped(proj: Project, arm: str, seed: int) -> Optional[PairSkipped]:
    """The arm's skip record when that seed's pair was not needed, else None (it trained, or has not run yet)."""
    path = proj.arm(arm, seed) / NOT_NEEDED
    return PairSkipped.read(path) if path.is_file() else None


def skip_if_settled(proj: Project, arm: str, seed: int) -> Optional[PairSkipped]:
    """Before training: if the look gating this pair says it is not needed, write the skip record in place of every
    output of the arm's stage and return it; else None (train). No look file (a stage run by hand, outside the
    sequential chain): train."""
    from graftline.atomic import atomic_dir

    path = gate_path(proj, seed)
    if not path.is_file():
        return None
    gate = PairGate.read(path)
    if gate.needed:
        return None
    rec = PairSkipped(seed=seed, arm=arm, not_needed=gate.reason or "an earlier look settled the verdict")
    metrics = proj.arm_metrics(arm, seed)
    for folder in (proj.arm(arm, seed), metrics.with_suffix("")):
        with atomic_dir(folder) as tmp:
            rec.write(tmp / NOT_NEEDED)
    rec.write(metrics)
    return rec
