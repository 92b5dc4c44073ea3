"""Sequential paired seeds (check/sequential.py): the spending rule holds the error rate over the looks, the stop
logic stops at the first settled look, and the chain of looks in params is the one DVC needs. Simulated with numpy:
no training."""

from __future__ import annotations

import numpy as np
import pytest

from graftline.check.sequential import look_confidence, planned_looks, run_sequential, stop_reason
from graftline.config import CheckParams
from graftline.config.training import chain_of

CLASSES = ["a", "b", "c"]


def _draw(rng, k: int, n: int, effect: float = 0.0, sd_seed: float = 0.02, flip: float = 0.1):
    """Paired correctness [k, n] of two arms on n test images, as trained models behave: an image is right when the
    training's ability (a base, ``effect`` for the transfer arm, a per-seed shift of sd ``sd_seed``) plus per-image
    noise (sd ``flip``: a training's own mistakes) beats the image's difficulty, which both arms and every seed
    share."""
    difficulty = rng.random(n)

    def arm(shift: float):
        ability = 0.75 + shift + rng.normal(0, sd_seed, size=(k, 1))
        return ability + rng.normal(0, flip, size=(k, n)) > difficulty

    return arm(effect), arm(0.0)


def test_the_spending_rule_splits_alpha_over_the_planned_looks():
    assert planned_looks(2, 5) == 4 and look_confidence(0.95, 2, 5) == pytest.approx(1 - 0.05 / 4)
    assert planned_looks(5, 5) == 1 and look_confidence(0.95, 5, 5) == pytest.approx(0.95)  # fixed design


def test_looking_after_every_pair_keeps_the_false_call_rate_on_ties_at_alpha():
    """Ties (both arms equal in distribution): a settled verdict at any look is a false call. With alpha split
    over the 4 looks it stays at about alpha or below; the same looks each at 95 % (no correction) call about twice
    as many ties, so the test fails if the correction is dropped."""
    rng = np.random.default_rng(0)
    n, sims, y = 80, 160, np.arange(80) % 3
    corrected = naive = 0
    for _ in range(sims):
        t, s = _draw(rng, 5, n)
        corrected += run_sequential(t, s, y, CLASSES, list(range(5)), 3, 0.0, 0.95, 300).verdict.verdict != \
            "inconclusive"
        naive += run_sequential(t, s, y, CLASSES, list(range(5)), 3, 0.0, 0.85, 300).verdict.verdict != \
            "inconclusive"  # 0.85 over 3 looks = 0.95 at each look: what looking without correcting does
    assert corrected / sims <= 0.075  # alpha 0.05 plus Monte Carlo error (sd ~0.017 at 160 draws)
    assert naive > corrected


def test_a_clear_effect_stops_at_the_first_look_and_later_pairs_are_not_used():
    rng = np.random.default_rng(1)
    y = np.arange(300) % 3
    t, s = _draw(rng, 5, 300, effect=0.15, sd_seed=0.005)
    r = run_sequential(t, s, y, CLASSES, list(range(5)), 3)
    assert r.verdict.verdict == "positive" and r.pairs_used == 3 and r.looks == [(3, "positive")]
    assert r.verdict.seeds == [0, 1, 2] and r.stop_reason == "settled at look 1 of 3 (3 pairs)"
    assert r.verdict.confidence == pytest.approx(1 - 0.05 / 3)
    t, s = _draw(rng, 5, 300, effect=-0.15, sd_seed=0.005)  # transfer worse: negative, also at once
    assert run_sequential(t, s, y, CLASSES, list(range(5)), 3).verdict.verdict == "negative"


def test_a_tie_runs_to_max_seeds_and_says_so():
    rng = np.random.default_rng(2)
    y = np.arange(100) % 3
    t, s = _draw(rng, 5, 100, sd_seed=0.03)
    r = run_sequential(t, s, y, CLASSES, list(range(5)), 2)
    if r.verdict.verdict == "inconclusive":  # this draw is one of the ~95 % that are not called
        assert r.pairs_used == 5 and [k for k, _ in r.looks] == [2, 3, 4, 5]
        assert r.stop_reason == "max seeds reached (5 pairs)"
    assert stop_reason(3, "inconclusive", 3, 3) == "max seeds reached (3 pairs)"
    assert stop_reason(3, "negative", 2, 5) == "settled at look 2 of 4 (3 pairs)"


def test_fewer_pairs_than_min_seeds_take_one_look_with_what_there_is():
    """The check stage called on fewer trained pairs than min_seeds (by hand): one look, not an error."""
    rng = np.random.default_rng(3)
    t, s = _draw(rng, 1, 60)
    r = run_sequential(t, s, np.arange(60) % 3, CLASSES, list(range(5)), 2)
    assert r.pairs_used == 1 and len(r.looks) == 1


def test_the_chain_of_looks_must_match_the_seeds():
    assert chain_of([0, 1, 2, 3, 4]) == CheckParams().looks == {"1": 0, "2": 1, "3": 2, "4": 3}
    assert CheckParams(seeds=[7, 3], looks={"3": 7}).max_seeds == 2
    with pytest.raises(ValueError, match=r'looks must be \{"1": 0, "2": 1\}'):
        CheckParams(seeds=[0, 1, 2])  # the default chain is for five seeds
    with pytest.raises(ValueError, match="min_seeds"):
        CheckParams(seeds=[0], looks={}, min_seeds=2)
