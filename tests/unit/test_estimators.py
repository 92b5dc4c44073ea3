"""LEEP, NCE, H-score and kNN: their definitions on cases with known answers, and true labels beating noise; the
registry they are dispatched through agrees with params.yaml's names."""

from typing import get_args

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import softmax

from graftline.config import SelectParams
from graftline.select import estimators as E
from graftline.select.estimators import h_score, knn_accuracy, leep, logme, logme_evidence, logme_per_class, nce
from graftline.select.rank import add_ensemble, score_features


def clustered(n_per=8, classes=5, d=32, spread=3.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per)
    f = rng.normal(size=(classes, d))[y] * spread + rng.normal(size=(len(y), d))
    return f, y


def test_leep_matches_its_definition_written_as_loops():
    rng = np.random.default_rng(1)
    n, z, c = 40, 6, 4
    probs = rng.dirichlet(np.ones(z), size=n)
    y = rng.integers(0, c, n)
    joint = np.zeros((z, c))
    for i in range(n):
        for a in range(z):
            joint[a, y[i]] += probs[i, a] / n
    cond = joint / joint.sum(1, keepdims=True)
    expected = np.mean([np.log(sum(cond[a, y[i]] * probs[i, a] for a in range(z))) for i in range(n)])
    assert leep(probs, y) == pytest.approx(expected, abs=1e-12)


def test_leep_bounds():
    y = np.repeat(np.arange(4), 5)
    perfect = np.eye(4)[y]  # the source head already names the target class
    assert leep(perfect, y) == pytest.approx(0.0, abs=1e-12)
    uniform = np.full((len(y), 7), 1 / 7)  # an uninformative head: LEEP = mean log prior
    assert leep(uniform, y) == pytest.approx(np.log(0.25))


def test_nce_is_minus_conditional_entropy():
    y = np.repeat(np.arange(3), 10)
    assert nce(y + 5, y) == pytest.approx(0.0)  # a relabelling of the target: no uncertainty left
    assert nce(np.zeros_like(y), y) == pytest.approx(-np.log(3))  # one source label for all: H(Y)
    z = np.array([0, 0, 1, 1])
    yy = np.array([0, 1, 0, 0])  # H(Y|Z) = 0.5 * log 2
    assert nce(z, yy) == pytest.approx(-0.5 * np.log(2))


def test_h_score_equals_its_definition_and_shrinkage_matters_only_when_few_samples():
    f, y = clustered(n_per=300, classes=3, d=5, spread=1.0)
    fc = f - f.mean(0)
    g = np.stack([fc[y == c].mean(0) for c in range(3)])[y]
    expected = np.trace(np.linalg.inv(fc.T @ fc / len(y)) @ (g.T @ g / len(y)))
    assert h_score(f, y, shrinkage=None) == pytest.approx(expected, rel=1e-9)
    assert h_score(f, y, shrinkage="auto") == pytest.approx(expected, rel=0.05)
    # N < D: the plain estimate saturates at its ceiling (classes - 1) for any labels; shrinkage keeps it informative.
    f, y = clustered(n_per=3, classes=5, d=64, spread=0.5)
    perm = np.random.default_rng(0).permutation(y)
    assert h_score(f, y, None) == pytest.approx(h_score(f, perm, None), rel=1e-6)
    assert h_score(f, y) > h_score(f, perm)


def test_knn_accuracy():
    f, y = clustered(spread=5.0)
    assert knn_accuracy(f, y, k=3) == 1.0
    rng = np.random.default_rng(0)
    assert knn_accuracy(rng.normal(size=f.shape), y, k=3) < 0.5


@pytest.mark.parametrize("estimator", ["logme", "h_score", "knn"])
def test_true_labels_outscore_permutations(estimator):
    fn = {"logme": logme, "h_score": h_score, "knn": knn_accuracy}[estimator]
    f, y = clustered(n_per=3, classes=10, d=128, spread=1.0)  # the few-label regime: N = 30 < D = 128
    true = fn(f, y)
    for seed in range(5):
        assert true > fn(f, np.random.default_rng(seed).permutation(y))


def test_logme_handles_a_class_without_evidence():
    """A target the features say nothing about (F^T y = 0) drives alpha/beta to infinity: that class's score is the
    noise-only limit; the other class keeps its own maximised evidence."""
    rng = np.random.default_rng(0)
    n = 50
    y = np.r_[np.zeros(25, int), np.ones(25, int)]
    f = rng.normal(size=(n, 8))
    f[y == 0] = 0.0  # class 0's target is orthogonal to every feature column
    f[y == 1, 0] += 2.0  # class 1 is carried by feature 0
    per = logme_per_class(f, y)
    limit = -0.5 * np.log(2 * np.pi * 25 / n) - 0.5  # beta = N / |y_0|^2, no weights
    assert per[0] == pytest.approx(limit, abs=1e-6)
    t = (y == 1).astype(float)
    with np.errstate(all="ignore"):
        best = max(-minimize(lambda p: -logme_evidence(f, t, np.exp(p[0]), np.exp(p[1])), [a0, b0],
                             method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000}).fun
                   for a0 in (-2.0, 2.0) for b0 in (-2.0, 2.0))
    assert per[1] == pytest.approx(best, abs=1e-6) and per[1] > limit + 0.1
    assert logme(f, y) == pytest.approx(per.mean(), abs=1e-12)


def test_the_registry_is_what_params_yaml_accepts():
    """select.estimator is a Literal in config (layer 0); it must name exactly the registered estimators + ensemble,
    and every param an estimator reads must exist in the select section."""
    accepted = set(get_args(SelectParams.model_fields["estimator"].annotation))
    assert accepted == set(E.REGISTRY) | {E.ENSEMBLE}
    assert set(E.scales()) == accepted and all(E.scales().values())
    assert set(E.option_params()) <= set(SelectParams.model_fields)
    assert set(E.ensemble_members()) == {"logme", "leep", "nce", "knn"}  # the measured default ensemble


def test_score_features_dispatches_each_estimator_on_what_it_takes():
    f, y = clustered(n_per=6, classes=4, d=16, spread=0.5)  # knn with k = 5 and 1 differ here: 0.29 vs 0.58
    z = np.random.default_rng(3).normal(size=(len(y), 7)) * 3
    got = score_features(f, z, y, {"knn_k": 5, "h_score_shrinkage": None})
    assert list(got) == list(E.REGISTRY)
    assert got["logme"] == logme(f, y) and got["h_score"] == h_score(f, y, None)
    assert got["knn"] == knn_accuracy(f, y, 5) != knn_accuracy(f, y, 1) == score_features(f, z, y, {"knn_k": 1})["knn"]
    assert got["leep"] == pytest.approx(leep(softmax(z, axis=1), y), abs=1e-12)
    assert got["nce"] == nce(z.argmax(1), y)
    headless = score_features(f, None, y)
    assert {n for n, v in headless.items() if v is None} == {n for n, e in E.REGISTRY.items() if e.needs_head} \
        == {"leep", "nce"}


def test_the_ensemble_is_the_mean_rank_of_its_members_only():
    rows = [{"candidate": c, **{n: v for n, v in zip(E.REGISTRY, vals)}}
            for c, vals in (("a", (3.0, -1.0, -0.5, 9.0, 0.9)), ("b", (1.0, -2.0, -0.1, 0.0, 0.5)),
                            ("c", (2.0, None, None, 5.0, 0.7)))]  # c: a headless backbone
    add_ensemble(rows)
    # ranks over the members (logme, leep, nce, knn), 1 = best: a = (1, 1, 0, 1), b = (0, 0, 1, 0), c = (.5, .5)
    assert [r["ensemble"] for r in rows] == pytest.approx([0.75, 0.25, 0.5])


def test_logme_finds_the_maximum_at_any_feature_scale():
    """The evidence of a class can have a second, lower maximum at alpha / beta -> infinity (the noise-only model). A
    fixed start (alpha = beta = 1, the reference's) is not scale-free: with these features x 0.01 it fell into that
    one and scored class 2 at -0.667 instead of -0.359 (found by hypothesis in test_estimator_properties.py). The
    score must be the maximum, found by a dense search, at every scale."""
    rng = np.random.default_rng(1287)
    n, d, k = 18, 7, 4
    y = rng.permutation(np.arange(n) % k)
    f = (rng.normal(size=(k, d)) * 2.21)[y] + rng.normal(size=(n, d))
    t = (y == 2).astype(float)
    dense = max(logme_evidence(f, t, np.exp(a), np.exp(b)) for a in np.linspace(-2, 8, 101)
                for b in np.linspace(0, 6, 61))
    unscaled = logme_per_class(f, y)[2]
    for scale in (1e-3, 1e-2, 1.0, 1e2):
        per = logme_per_class(f * scale, y)
        assert per[2] >= dense - 1e-3 and per[2] == pytest.approx(unscaled, abs=1e-9), scale
