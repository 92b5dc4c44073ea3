"""Data drift: a profile of the accepted data, and the population stability index (PSI) against a reference.

The profile holds, per feature, the bins and the share of images in each: the class distribution, image width and
height, and mean/std intensity. It is written on every accepted validation (``reports/data_profile.json``); commit a
copy and point ``validate.reference_profile`` at it to measure later data against it. Numeric bins are the
reference's deciles (open at both ends), so the current data is binned exactly as the reference was.

PSI = sum((cur - ref) * ln(cur / ref)) over bins; the usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 drifted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from graftline.errors import DataError

NUMERIC = ("width", "height", "mean", "std")
EPS = 1e-4  # a share of 0 would make ln() infinite; this floor keeps one empty bin from dominating


def _numeric_edges(x: np.ndarray) -> list[float]:
    if not len(x):
        return []
    return [float(e) for e in np.unique(np.quantile(x, np.linspace(0.1, 0.9, 9)))]


def _shares_numeric(x: np.ndarray, edges: list[float]) -> list[float]:
    idx = np.searchsorted(np.asarray(edges, dtype=float), x, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return (counts / max(counts.sum(), 1.0)).tolist()


def _shares_categorical(values: pd.Series, bins: list[str]) -> list[float]:
    counts = values.value_counts()
    total = max(len(values), 1)
    return [float(counts.get(b, 0)) / total for b in bins]


def profile(facts: pd.DataFrame) -> dict:
    """The accepted data's profile (decodable images only)."""
    ok = facts[facts["decodable"].astype(bool)]
    classes = sorted(ok["label"].astype(str).unique().tolist())
    feats: dict[str, dict] = {"class": {"kind": "categorical", "bins": classes,
                                        "shares": _shares_categorical(ok["label"].astype(str), classes)}}
    for name in NUMERIC:
        x = ok[name].astype(float).to_numpy()
        edges = _numeric_edges(x)
        feats[name] = {"kind": "numeric", "edges": edges, "shares": _shares_numeric(x, edges),
                       "mean": float(x.mean()) if len(x) else None}
    return {"images": int(len(ok)), "features": feats}


def psi(ref: list[float], cur: list[float]) -> float:
    r = np.maximum(np.asarray(ref, dtype=float), EPS)
    c = np.maximum(np.asarray(cur, dtype=float), EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def compare(reference: dict, facts: pd.DataFrame) -> pd.DataFrame:
    """One row per feature: psi of the current facts against the reference profile."""
    ok = facts[facts["decodable"].astype(bool)]
    rows = []
    for name, ref in reference["features"].items():
        if ref["kind"] == "categorical":
            labels = ok["label"].astype(str)
            bins = list(ref["bins"]) + sorted(set(labels) - set(ref["bins"]))  # a new class is drift too
            cur = _shares_categorical(labels, bins)
            ref_shares = list(ref["shares"]) + [0.0] * (len(bins) - len(ref["bins"]))
        else:
            cur = _shares_numeric(ok[name].astype(float).to_numpy(), ref["edges"])
            ref_shares = ref["shares"]
        rows.append({"feature": name, "psi": round(psi(ref_shares, cur), 6)})
    return pd.DataFrame(rows, columns=["feature", "psi"])


def load_reference(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: rule drift: validate.reference_profile does not exist. Copy an accepted "
                        "reports/data_profile.json there (and commit it), or set validate.reference_profile: null.")
    try:
        ref = json.loads(path.read_text())
        assert isinstance(ref["features"], dict)
    except Exception:  # noqa: BLE001 - any malformed file gets the same advice
        raise DataError(f"{path}: rule drift: not a data profile written by graftline validate. Copy "
                        "reports/data_profile.json from an accepted run.") from None
    return ref
