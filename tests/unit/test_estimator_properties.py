"""Property-based checks (hypothesis) of what the transferability estimators promise for any input, not just the
hand-made cases of test_estimators.py: a score does not depend on how the target classes are numbered, and the
feature-based scores that are scale-free in theory stay so in the implementation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graftline.select.estimators import REGISTRY

EXAMPLES = 150
# Scale-free in theory: LogME (the prior precision alpha absorbs a feature scale: the evidence is unchanged),
# H-score (tr(cov^-1 cov_between) is invariant under any invertible linear map; Ledoit-Wolf's shrinkage intensity is
# scale-free too), kNN (cosine similarity on L2-normalised features).
SCALE_FREE = ("logme", "h_score", "knn")


@st.composite
def tasks(draw):
    """(features [N, D], source probs [N, Z], target labels [N] with every class at least twice, a seed)."""
    seed = draw(st.integers(0, 2**31 - 1))
    n, d, k, z = draw(st.integers(12, 48)), draw(st.integers(2, 10)), draw(st.integers(2, 4)), draw(st.integers(2, 6))
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % k)
    centres = rng.normal(size=(k, d)) * draw(st.floats(0.0, 3.0))
    features = centres[labels] + rng.normal(size=(n, d))
    logits = rng.normal(size=(n, z)) + draw(st.floats(0.0, 3.0)) * np.eye(z)[labels % z]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return features, probs / probs.sum(1, keepdims=True), labels, seed


def _inputs(name: str, features: np.ndarray, probs: np.ndarray) -> np.ndarray:
    takes = REGISTRY[name].takes
    return features if takes == "features" else probs if takes == "source_probs" else probs.argmax(1)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tasks())
def test_no_score_depends_on_how_the_target_classes_are_numbered(task):
    features, probs, labels, seed = task
    perm = np.random.default_rng(seed + 1).permutation(labels.max() + 1)
    for name, est in REGISTRY.items():
        x = _inputs(name, features, probs)
        assert est(x, perm[labels]) == pytest.approx(est(x, labels), rel=1e-6, abs=1e-9), name


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tasks(), st.floats(1e-4, 1e4))
def test_the_scale_free_scores_ignore_a_feature_scale(task, scale):
    features, _, labels, _ = task
    for name in SCALE_FREE:
        est = REGISTRY[name]
        assert est(features * scale, labels) == pytest.approx(est(features, labels), rel=1e-7, abs=1e-9), name


def test_the_scale_free_list_names_registered_feature_estimators():
    assert all(REGISTRY[n].takes == "features" for n in SCALE_FREE)
