"""SFDA: how well a regularised Fisher classifier on the features survives having its hard examples made harder."""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from graftline.select.estimators.registry import register_estimator


def _within_class_scatter(f: np.ndarray, yi: np.ndarray, means: np.ndarray) -> np.ndarray:
    """S_w = sum_c pi_c cov(f | c) (biased class covariances, weighted by the class priors)."""
    centred = f - means[yi]
    return centred.T @ centred / len(yi)


def _class_means(f: np.ndarray, yi: np.ndarray, classes: int) -> np.ndarray:
    means = np.zeros((classes, f.shape[1]))
    np.add.at(means, yi, f)
    return means / np.bincount(yi, minlength=classes)[:, None]


def fisher_posterior(features: np.ndarray, labels: np.ndarray, shrinkage: float) -> np.ndarray:
    """p(y | x) [N, C] of the Fisher (linear discriminant) classifier with a shrunk within-class scatter
    S = (1 - lam) S_w + lam tr(S_w)/D I:  softmax_c( x^T S^-1 mu_c - mu_c^T S^-1 mu_c / 2 + log pi_c ).

    Only the C - 1 Fisher directions S^-1 (mu_c - mu) separate these scores, so this is the classifier in the Fisher
    space of the paper, without forming the projection. Classes in ``np.unique(labels)`` order.
    """
    f = np.asarray(features, dtype=np.float64)
    _, yi = np.unique(labels, return_inverse=True)
    c = int(yi.max()) + 1
    means = _class_means(f, yi, c)
    sw = _within_class_scatter(f, yi, means)
    d = sw.shape[0]
    s = (1.0 - shrinkage) * sw + shrinkage * np.trace(sw) / d * np.eye(d)
    w = np.linalg.solve(s, means.T)  # [D, C]: S^-1 mu_c
    priors = np.bincount(yi, minlength=c) / len(yi)
    scores = f @ w - 0.5 * np.einsum("cd,dc->c", means, w) + np.log(priors)
    return softmax(scores, axis=1)


@register_estimator("sfda", scale=(
    "SFDA is the mean probability that a shrunk Fisher classifier gives each image's true class after the hard "
    "images were mixed towards the other classes: in (0, 1], higher is better."))
def sfda(features: np.ndarray, labels: np.ndarray, a: float = 5.0) -> float:
    """SFDA (Shao, Zhao, Ge, Wang, Xu & Luo, "Not All Models Are Equal: Predicting Model Transferability in a
    Self-challenging Fisher Space", ECCV 2022).

    1. Regularised Fisher discriminant analysis. With S_w the within-class scatter, the shrinkage adapts to the
       features' scale: lam = exp(-a sigma_max(S_w)) (sigma_max its largest eigenvalue, a = 5 as in the authors'
       code, lam >= 1e-10), S = (1 - lam) S_w + lam tr(S_w)/D I, and p(y | x) is the Fisher classifier's
       posterior in that space (``fisher_posterior``).
    2. Self-challenge (ConfMix). Each image moves towards the mean of the *other* classes' means in proportion to
       how unsure the classifier is of its true class: x' = q x + (1 - q) mean_{c != y} mu_c, with
       q = softmax_c(p(c | x))_y — the posterior softened once more (the authors' choice): q <= e / (e + C - 1),
       so every image is challenged, the confidently classified ones least.
    3. The same regularised Fisher classifier on the mixed features; the score is mean_i p'(y_i | x'_i), a
       probability (no log: the authors drop it for stability).

    Features that separate the classes keep their images apart even after the challenge; features where the
    classes only barely separate collapse towards the other classes and score lower. Classes are symmetric, so the
    score does not depend on how they are numbered.

    Not in the default ensemble: with fewer labelled images than feature dimensions (the default's few labels per
    class) and a within-class spread that makes lam ~ 0, the Fisher classifier separates *any* labelling and the
    score saturates (measured: 1.0 for true and for shuffled labels at N = 30, D = 128, ten classes).
    """
    f = np.asarray(features, dtype=np.float64)
    _, yi = np.unique(labels, return_inverse=True)
    c = int(yi.max()) + 1
    if c < 2:
        return 1.0  # one class: nothing to tell apart
    n = len(yi)
    from scipy.linalg import eigh

    means = _class_means(f, yi, c)
    sw = _within_class_scatter(f, yi, means)
    top = float(eigh(sw, eigvals_only=True, subset_by_index=[sw.shape[0] - 1, sw.shape[0] - 1])[0])
    lam = max(float(np.exp(-a * top)), 1e-10)
    q = softmax(fisher_posterior(f, yi, lam), axis=1)[np.arange(n), yi][:, None]
    others = (means.sum(0, keepdims=True) - means) / (c - 1)  # [C, D]: the mean of the other classes' means
    mixed = q * f + (1.0 - q) * others[yi]
    return float(np.mean(fisher_posterior(mixed, yi, lam)[np.arange(n), yi]))
