"""The paired comparison of two classifiers on the same images, and the decision it supports.

Each image gives d = [challenger right] - [champion right], one of -1, 0, +1, so the accuracy gain is
Δ = (b - c) / n with b the images only the challenger gets right and c those only the champion gets right. The
interval is a paired bootstrap over images: a replicate redraws the n images with replacement, which is exactly a
multinomial draw of (b, c, the rest) with the observed shares, so B replicates cost O(B) whatever n is; the
percentile interval at ``confidence`` is reported. The exact McNemar p-value (Binomial(b + c, ½) on the discordant
images, two-sided) is reported beside it.

**Decision** with threshold t = +margin (``superiority``: the challenger must be better by more than the margin) or
t = -margin (``non_inferiority``: it may be at most the margin worse):

- ``promote``: the whole interval lies above t;
- ``keep``: the whole interval lies below t (the champion stays);
- ``inconclusive``: the interval holds t (too few images to tell; the champion stays);
- ``first``: there is no champion (nothing to compare with; the challenger is promoted if its gates passed).

Like TFX's Evaluator and MLflow's aliases the baseline is the model in production, but the decision is made on the
interval, not on point values: an equal challenger is called ``keep`` in about (1 - confidence) / 2 of draws under
non-inferiority, a clearly worse one nearly always (benchmarks/compare.py measures both).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest


def paired_delta(challenger_right: np.ndarray, champion_right: np.ndarray, confidence: float = 0.95,
                 bootstrap: int = 2000, seed: int = 0) -> dict:
    """Δaccuracy (challenger - champion) on the same images, its paired-bootstrap interval and McNemar's p."""
    a = np.asarray(challenger_right, bool)
    z = np.asarray(champion_right, bool)
    if a.shape != z.shape:
        raise ValueError(f"the two models were scored on different images ({a.shape} vs {z.shape})")
    n = int(a.size)
    b, c = int((a & ~z).sum()), int((~a & z).sum())
    if n == 0:
        return {"n": 0, "delta": None, "low": None, "high": None, "b": 0, "c": 0, "p": None,
                "challenger_acc": None, "champion_acc": None}
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, [b / n, c / n, 1.0 - (b + c) / n], size=bootstrap)
    deltas = (draws[:, 0] - draws[:, 1]) / n
    alpha = 1.0 - confidence
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    p = float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    return {"n": n, "delta": (b - c) / n, "low": float(low), "high": float(high), "b": b, "c": c, "p": p,
            "challenger_acc": float(a.mean()), "champion_acc": float(z.mean())}


def decide(low: float | None, high: float | None, mode: str, margin: float, has_champion: bool = True
           ) -> tuple[str, str]:
    """(decision, why) from the interval of Δaccuracy; see the module docstring."""
    if not has_champion:
        return "first", "no model at the stage yet: this one is the first"
    if low is None or high is None:
        return "inconclusive", ("no test image is left to compare on: the champion trained or validated on every "
                                "one of today's test images")
    t = margin if mode == "superiority" else -margin
    rule = (f"better by more than {margin:.3f}" if mode == "superiority" else f"at most {margin:.3f} worse")
    span = f"Δaccuracy interval [{low:+.4f}, {high:+.4f}]"
    if low > t:
        return "promote", f"{span} lies above {t:+.3f}: the challenger is {rule} ({mode})"
    if high < t:
        return "keep", f"{span} lies below {t:+.3f}: the challenger is not {rule} ({mode})"
    return "inconclusive", f"{span} holds {t:+.3f}: too few images to tell whether the challenger is {rule} ({mode})"
