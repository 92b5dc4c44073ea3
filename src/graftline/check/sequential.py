"""Sequential paired seeds: train pairs only until the verdict settles, with the error rates held over the looks.

**Design.** Pairs are trained in the order of ``check.seeds``. After ``check.min_seeds`` pairs, and after each pair
after that, the verdict (check/verdict.py: the interval of NTG over test images and seeds) is computed — a *look*.
The first look whose interval lies wholly below 0 (``positive``) or wholly above ``max_ntg`` (``negative``)
settles it: the remaining pairs are not trained. If no look settles it, ``max_seeds = len(check.seeds)`` pairs
are trained and the last look's verdict (``inconclusive``) stands. There are ``L = max_seeds - min_seeds + 1``
planned looks.

**Spending rule: Bonferroni over the planned looks.** Each look's interval is taken at level ``1 - alpha / L``
(alpha = 1 - ``check.confidence``). A wrong call at *any* look is the union of the looks' wrong calls, so its
probability is at most ``L * alpha / L = alpha`` whatever the looks' dependence: the family-wise error rate is held
exactly as the fixed design's, without modelling how the interval's replicates (bootstrap + Student t) correlate from
look to look. It is a Pocock-shaped boundary (the same level at every look), which is what we want here: the cost is
in the trainings, so stopping early on a clear effect matters more than the last bit of power at the last look.
O'Brien-Fleming would spend almost nothing at the first looks (the demo's clear wins would still pay for all five
pairs), and an anytime-valid confidence sequence needs a bounded or sub-Gaussian model of the per-seed NTGs with
only 2-5 of them, where the t interval is what we trust. Bonferroni is conservative (the looks are positively
correlated, so the true error rate is below alpha); unit tests (tests/unit/test_sequential.py) measure it by
simulation. With ``min_seeds == max_seeds`` there is one look at ``confidence``: the fixed design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graftline.check.verdict import Verdict, decide

SETTLED = ("positive", "negative")


def planned_looks(min_seeds: int, max_seeds: int) -> int:
    return max(1, max_seeds - min_seeds + 1)


def look_confidence(confidence: float, min_seeds: int, max_seeds: int) -> float:
    """Each look's interval level: alpha split equally over the planned looks (Bonferroni)."""
    return 1.0 - (1.0 - confidence) / planned_looks(min_seeds, max_seeds)


def look_number(pairs: int, min_seeds: int) -> int | None:
    """The look taken with ``pairs`` trained pairs (1 = the first, at min_seeds), None before min_seeds."""
    return pairs - min_seeds + 1 if pairs >= min_seeds else None


def stop_reason(pairs: int, verdict: str, min_seeds: int, max_seeds: int) -> str:
    look = look_number(pairs, min_seeds)
    if verdict in SETTLED:
        return f"settled at look {look} of {planned_looks(min_seeds, max_seeds)} ({pairs} pairs)"
    return f"max seeds reached ({pairs} pairs)"


@dataclass
class Sequential:
    verdict: Verdict  # at the stopping look
    pairs_used: int
    stop_reason: str
    looks: list[tuple[int, str]]  # (pairs, verdict) of every look taken, in order


def run_sequential(transfer_ok: np.ndarray, scratch_ok: np.ndarray, labels: np.ndarray, classes: list[str],
                   seeds: list[int], min_seeds: int, max_ntg: float = 0.0, confidence: float = 0.95,
                   replicates: int = 2000) -> Sequential:
    """The sequential design on the pairs ``transfer_ok``/``scratch_ok`` [K, n] trained so far (K <= len(seeds),
    the seeds in order): look at min_seeds pairs, then one more pair per look, stop at the first settled look.
    ``len(seeds)`` is max_seeds. The check stage calls it on the pairs actually trained (the later ones were not
    needed); benchmarks/gate.py on a prefix of a fixed design's pairs, so one set of trainings serves both."""
    t, s = np.asarray(transfer_ok, dtype=bool), np.asarray(scratch_ok, dtype=bool)
    k_max = len(seeds)
    level = look_confidence(confidence, min_seeds, k_max)
    looks: list[tuple[int, str]] = []
    v = None
    for k in range(min(min_seeds, len(t)), len(t) + 1):
        v = decide(t[:k], s[:k], labels, classes, seeds[:k], max_ntg, level, replicates)
        looks.append((k, v.verdict))
        if v.verdict in SETTLED:
            break
    assert v is not None
    k = len(v.seeds)
    return Sequential(v, k, stop_reason(k, v.verdict, min_seeds, k_max), looks)
