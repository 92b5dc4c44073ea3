"""LEEP: the log-likelihood of the candidate's source head re-mapped to the target labels."""

from __future__ import annotations

import numpy as np

from graftline.select.estimators.registry import register_estimator


@register_estimator("leep", takes="source_probs", ensemble=True, scale=(
    "LEEP is an average log-likelihood (nats per image) of the source head's expected predictor: always <= 0."))
def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP (Nguyen et al., "LEEP: A New Measure to Evaluate Transferability of Learned Representations", ICML 2020).

    With theta(x)_z the candidate's source-head probability of source class z on target image x:
    the empirical joint P(y, z) = 1/N sum_i theta(x_i)_z [y_i = y], the conditional P(y | z) = P(y, z) / P(z), and

        LEEP = 1/N sum_i log( sum_z P(y_i | z) theta(x_i)_z ),

    the average log-likelihood of the "expected empirical predictor". A log-probability: always <= 0.
    """
    p = np.asarray(source_probs, dtype=np.float64)
    y = np.asarray(labels)
    n = len(y)
    classes, yi = np.unique(y, return_inverse=True)
    onehot = np.zeros((n, len(classes)))
    onehot[np.arange(n), yi] = 1.0
    joint = p.T @ onehot / n  # [Z, Y]
    cond = joint / np.maximum(joint.sum(1, keepdims=True), 1e-300)  # P(y | z)
    eep = (p @ cond)[np.arange(n), yi]
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))
