"""kNN: leave-one-out nearest-neighbour accuracy on the candidate's features."""

from __future__ import annotations

import numpy as np

from graftline.select.estimators.registry import register_estimator


@register_estimator("knn", options={"k": "knn_k"}, ensemble=True, scale=(
    "kNN is leave-one-out nearest-neighbour accuracy on the features, in [0, 1]."))
def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 3) -> float:
    """Leave-one-out k-nearest-neighbour accuracy on L2-normalised features (cosine similarity).

    A cheap sanity score, not from a transferability paper: how often an image's nearest other images share its
    label. Votes are weighted by similarity, so ties between classes break toward the closer neighbours.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    k = max(1, min(k, len(y) - 1))
    nn = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    classes, yi = np.unique(y, return_inverse=True)
    votes = np.zeros((len(y), len(classes)))
    rows = np.repeat(np.arange(len(y)), k)
    np.add.at(votes, (rows, yi[nn].ravel()), 1.0 + 1e-6 * sim[rows, nn.ravel()])
    return float(np.mean(votes.argmax(1) == yi))
