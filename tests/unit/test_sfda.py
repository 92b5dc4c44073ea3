"""SFDA (Shao et al., ECCV 2022): its Fisher classifier is the shrunk linear discriminant, and the score has the
properties a transferability estimator needs: class separation raises it, class numbering does not change it."""

import numpy as np
import pytest
from sklearn.covariance import ShrunkCovariance
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from graftline.select import estimators as E
from graftline.select.estimators.sfda import fisher_posterior, sfda
from graftline.select.rank import score_features


def clustered(n_per=20, classes=5, d=16, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per)
    return rng.normal(size=(classes, d))[y] * spread + rng.normal(size=(len(y), d)), y


def test_the_fisher_stage_is_the_shrunk_linear_discriminant_posterior():
    f, y = clustered()
    for lam in (1e-10, 0.3, 0.9):  # sklearn's LDA with S_w shrunk towards tr(S_w)/D I: an independent implementation
        lda = LinearDiscriminantAnalysis(solver="lsqr", covariance_estimator=ShrunkCovariance(shrinkage=lam))
        assert fisher_posterior(f, y, lam) == pytest.approx(lda.fit(f, y).predict_proba(f), abs=1e-9)


def test_features_that_separate_the_classes_score_higher():
    y = clustered()[1]
    scores = {s: sfda(clustered(spread=s)[0], y) for s in (0.3, 1.0, 3.0)}
    assert 0 < scores[0.3] < scores[1.0] < scores[3.0] <= 1.0
    f = clustered(spread=1.0)[0]
    for seed in range(5):  # the same features with the labels shuffled: nothing to separate
        assert sfda(f, np.random.default_rng(seed).permutation(y)) < scores[0.3]


def test_the_numbering_of_the_classes_does_not_matter():
    f, y = clustered(spread=0.5)
    renamed = np.array([3, 0, 4, 1, 2])[y] + 10  # another bijection of the class ids
    assert sfda(f, renamed) == pytest.approx(sfda(f, y), abs=1e-12)
    order = np.random.default_rng(1).permutation(len(y))  # and of the images
    assert sfda(f[order], y[order]) == pytest.approx(sfda(f, y), abs=1e-12)


def test_sfda_is_registered_and_reported_but_not_in_the_default_ensemble():
    f, y = clustered()
    spec = E.REGISTRY["sfda"]
    assert not spec.needs_head and not spec.ensemble and "sfda" not in E.ensemble_members()
    assert score_features(f, None, y)["sfda"] == sfda(f, y) and "sfda" in E.scales()
