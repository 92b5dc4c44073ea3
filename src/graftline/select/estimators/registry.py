"""The estimator registry: each estimator's module registers its function with what it needs and how to read it.

Everything that lists estimators derives from ``REGISTRY``: the scores select computes for each candidate (and
writes into every ranking row), the ``scale`` notes of reports/selection.json, the ensemble's members, the
benchmark's columns. ``select.estimator`` in params.yaml is a ``Literal`` (config is layer 0 and cannot import
this); tests/unit/test_estimators.py fails when the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

import numpy as np

# What an estimator reads of a candidate: its penultimate features [N, D], its source head's softmax
# probabilities [N, Z], or the source label that head predicts [N] (argmax).
Takes = Literal["features", "source_probs", "source_labels"]
ENSEMBLE = "ensemble"  # not an estimator of one candidate: the mean rank of the members over all candidates


@dataclass(frozen=True)
class Estimator:
    name: str
    fn: Callable[..., float]  # fn(<takes>, labels, **options) -> a float, higher = more transferable
    takes: Takes
    scale: str  # how to read the number (written into reports/selection.json's ``scale``)
    ensemble: bool  # a member of the default ``ensemble`` score
    options: Mapping[str, str] = field(default_factory=dict)  # fn keyword -> the ``select`` param that sets it

    @property
    def needs_head(self) -> bool:
        """A headless backbone (no source classifier) gets None for this estimator."""
        return self.takes != "features"

    def __call__(self, x: np.ndarray, labels: np.ndarray, settings: Mapping[str, object] | None = None) -> float:
        """Score one candidate; ``settings`` maps ``select`` param names to values (missing: fn's default)."""
        settings = settings or {}
        return float(self.fn(x, labels, **{kw: settings[p] for kw, p in self.options.items() if p in settings}))


REGISTRY: dict[str, Estimator] = {}


def register_estimator(name: str, *, takes: Takes = "features", scale: str, ensemble: bool = False,
                       options: Mapping[str, str] | None = None):
    """Decorator: register ``fn`` as estimator ``name``. The order of registration is the order of the columns."""
    def deco(fn: Callable[..., float]) -> Callable[..., float]:
        if name in REGISTRY or name == ENSEMBLE:
            raise ValueError(f"estimator {name!r} is registered twice (select/estimators/)")
        REGISTRY[name] = Estimator(name, fn, takes, scale, ensemble, dict(options or {}))
        return fn

    return deco


def ensemble_members() -> tuple[str, ...]:
    return tuple(n for n, e in REGISTRY.items() if e.ensemble)


def scales() -> dict[str, str]:
    """Every score column of a ranking row (the estimators, then the ensemble) -> how to read it."""
    members = ", ".join(ensemble_members())
    return {**{n: e.scale for n, e in REGISTRY.items()},
            ENSEMBLE: (f"ensemble is the mean over {members} of each candidate's rank-normalised score (1 = best of "
                       "this set, 0 = worst): robust to any one estimator's noise, but meaningful only within one "
                       "run.")}


def option_params() -> tuple[str, ...]:
    """The ``select`` params some estimator reads (run_select passes their values to every worker)."""
    return tuple(dict.fromkeys(p for e in REGISTRY.values() for p in e.options.values()))


def score_all(features: np.ndarray, logits: np.ndarray | None, labels: np.ndarray,
              settings: Mapping[str, object] | None = None) -> dict[str, float | None]:
    """Every registered estimator on one candidate; those that need a source head are None without one."""
    inputs: dict[str, np.ndarray] = {"features": np.asarray(features, dtype=np.float64)}
    if logits is not None:
        from scipy.special import softmax

        z = np.asarray(logits, dtype=np.float64)
        inputs |= {"source_probs": softmax(z, axis=1), "source_labels": z.argmax(1)}
    return {n: (e(inputs[e.takes], labels, settings) if e.takes in inputs else None) for n, e in REGISTRY.items()}
