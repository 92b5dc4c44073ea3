"""Drift of today's accepted data against the champion's training profile (its ``reports/data_profile.json``).

The population stability index per feature, PSI = Σ (cur - ref) ln(cur / ref) over the profile's own bins (the
reference's deciles for numbers, its classes plus any new one), the same measure and bins as validate's drift rule.
Computed from today's manifest (class, width, height: no image is decoded again); the profile's intensity features
need the images' facts and stay with validate's rule (``validate.reference_profile``). Read: < 0.1 stable, 0.1-0.25
moderate, > 0.25 drifted.
"""

from __future__ import annotations

import numpy as np

from graftline.results.compare import FeatureDrift

EPS = 1e-4  # an empty bin's floor, as in validate/drift.py
FROM_MANIFEST = ("class", "width", "height")


def psi(ref: list[float], cur: list[float]) -> float:
    r = np.maximum(np.asarray(ref, dtype=float), EPS)
    c = np.maximum(np.asarray(cur, dtype=float), EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def drift(profile: dict, labels: list[str], widths: list[float], heights: list[float]) -> list[FeatureDrift]:
    """One row per feature of the profile that the manifest holds."""
    out = []
    values = {"width": np.asarray(widths, float), "height": np.asarray(heights, float)}
    for name in FROM_MANIFEST:
        ref = profile.get("features", {}).get(name)
        if ref is None:
            continue
        if ref["kind"] == "categorical":
            bins = list(ref["bins"]) + sorted(set(labels) - set(ref["bins"]))  # a new class is drift too
            counts = {b: 0 for b in bins}
            for lab in labels:
                counts[lab] += 1
            cur = [counts[b] / max(len(labels), 1) for b in bins]
            ref_shares = list(ref["shares"]) + [0.0] * (len(bins) - len(ref["bins"]))
        else:
            x = values[name][~np.isnan(values[name])]
            idx = np.searchsorted(np.asarray(ref["edges"], dtype=float), x, side="left")
            counts = np.bincount(idx, minlength=len(ref["edges"]) + 1).astype(float)
            cur, ref_shares = (counts / max(counts.sum(), 1.0)).tolist(), ref["shares"]
        out.append(FeatureDrift(feature=name, psi=round(psi(ref_shares, cur), 6)))
    return out
