"""LEEP, NCE, H-score and kNN: their definitions on cases with known answers, and true labels beating noise."""

import numpy as np
import pytest

from graftline.select.estimators import h_score, knn_accuracy, leep, logme, nce


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
    """A target the features say nothing about drives alpha/beta to infinity; the score is the noise-only limit."""
    rng = np.random.default_rng(0)
    f = rng.normal(size=(50, 8))
    y = np.r_[np.zeros(25, int), np.ones(25, int)]
    f[:, 0] = 0.0
    score = logme(f, y)
    n = 50
    limit = -0.5 * np.log(2 * np.pi * 25 / n) - 0.5  # per class: beta = N / |y|^2, no weights
    assert np.isfinite(score) and score >= limit - 1e-6
