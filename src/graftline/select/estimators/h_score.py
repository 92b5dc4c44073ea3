"""H-score: between-class spread of the features in units of their total spread."""

from __future__ import annotations

import numpy as np

from graftline.select.estimators.registry import register_estimator


@register_estimator("h_score", options={"shrinkage": "h_score_shrinkage"}, scale=(
    "H-score is tr(cov(f)^-1 cov(E[f|y])): between-class spread in units of total spread, >= 0, at most the number "
    "of classes - 1; with few labels it is shrunk (Ledoit-Wolf)."))
def h_score(features: np.ndarray, labels: np.ndarray, shrinkage: str | float | None = "auto") -> float:
    """H-score (Bao et al., "An Information-Theoretic Approach to Transferability in Task Transfer Learning",
    ICIP 2019):

        H(f) = tr( cov(f)^-1 cov(E[f | y]) ),

    how much of the features' spread lies between the class means, in units of their total covariance.

    With N < D (few labels) cov(f) is singular and the plain estimate is noise. ``shrinkage`` regularises it as in
    Ibrahim et al. ("Newer is not always better: Rethinking transferability metrics, their peculiarities,
    stability and performance", ECML-PKDD 2022): cov_a = (1 - a) cov(f) + a mu I with mu = tr(cov(f)) / D, and
    H_a = tr( cov_a^-1 (1 - a) cov(E[f | y]) ). ``"auto"``: a from Ledoit-Wolf; a float: that a; ``None``: the
    original (pseudo-inverse).
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    f = f - f.mean(0)
    n, d = f.shape
    classes, yi = np.unique(y, return_inverse=True)
    means = np.zeros((len(classes), d))
    np.add.at(means, yi, f)
    means /= np.bincount(yi)[:, None]
    g = means[yi]  # E[f | y] for each sample
    cov_f = f.T @ f / n
    cov_g = g.T @ g / n
    if shrinkage is None:
        return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-15, hermitian=True) @ cov_g))
    if shrinkage == "auto":
        from sklearn.covariance import ledoit_wolf_shrinkage

        a = float(ledoit_wolf_shrinkage(f, assume_centered=True))
    else:
        a = float(shrinkage)
    mu = np.trace(cov_f) / d
    reg = (1 - a) * cov_f + a * mu * np.eye(d)
    return float(np.trace(np.linalg.solve(reg, (1 - a) * cov_g)))
