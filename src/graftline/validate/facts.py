"""Per-image facts: one row per manifest entry, from a full decode of the file.

The facts table is what the Great Expectations suite runs over: path, label, split, sha256, width, height, mode,
decodable and the decode error. Whole-image decoding (``Image.load``) catches what a header probe misses
(truncated files); the pixel bound guards against decompression bombs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from graftline.data.manifest import Row


def decode_fact(path: Path, max_pixels: int) -> tuple[bool, str, int | None, int | None, str]:
    """(decodable, error, width, height, mode) after fully decoding the first frame."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h, mode = im.width, im.height, im.mode
                if w * h > max_pixels:
                    return False, f"{w}x{h} = {w * h} pixels exceeds validate.max_pixels = {max_pixels}", w, h, mode
                im.load()
        return True, "", w, h, mode
    except Image.DecompressionBombWarning as exc:
        return False, f"decompression bomb guard: {exc}", None, None, ""
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the fact we report
        return False, f"{type(exc).__name__}: {exc}", None, None, ""


def image_facts(root: Path, rows: list[Row], max_pixels: int) -> pd.DataFrame:
    from tqdm import tqdm

    records = []
    for r in tqdm(rows, desc="validate: decoding", disable=len(rows) < 2000, mininterval=2.0):
        ok, err, w, h, mode = decode_fact(root / r.path, max_pixels)
        records.append({"path": r.path, "label": r.label, "split": r.split, "sha256": r.sha256,
                        "width": w, "height": h, "mode": mode, "decodable": ok, "error": err})
    df = pd.DataFrame.from_records(records, columns=["path", "label", "split", "sha256", "width", "height", "mode",
                                                     "decodable", "error"])
    # Leakage: how many distinct splits hold the same bytes (1 is the only acceptable answer).
    df["splits_with_same_image"] = df.groupby("sha256")["split"].transform("nunique").astype(int) if len(df) else []
    return df


def class_counts(df: pd.DataFrame, classes: list[str], splits=("train", "val", "test")) -> pd.DataFrame:
    """Images per (class, split), zeros included, so that a class missing from a split is a row that fails."""
    counts = df.groupby(["label", "split"]).size() if len(df) else pd.Series(dtype=int)
    rows = [{"label": c, "split": s, "count": int(counts.get((c, s), 0))} for c in classes for s in splits]
    return pd.DataFrame(rows, columns=["label", "split", "count"])
