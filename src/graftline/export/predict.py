"""``graftline predict``: image files, folders or a CSV -> top-k classes, with onnxruntime, numpy and PIL only.

No torch is imported on this path (a test enforces it): a serving container needs the ONNX file and these three
packages. The model's card (preprocessing, class names) is read from the ONNX file itself (``export/metadata.py``), so
``model.onnx`` alone is enough; ``model.json`` beside it is not needed.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from graftline.data.sources import IMAGE_SUFFIXES
from graftline.errors import DataError, ModelError
from graftline.models.runtime import metadata, model_input, probabilities, session, verify
from graftline.models.card import ModelCard


def expand(inputs: list[Path]) -> list[Path]:
    """Files as given; folders -> their image files (recursive, sorted); a .csv -> its ``path`` column (relative to
    the CSV's folder)."""
    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        elif p.suffix.lower() == ".csv":
            with p.open(newline="", encoding="utf-8-sig") as f:
                rows = list(csv.DictReader(f))
            if rows and "path" not in rows[0]:
                raise DataError(f"{p}: a CSV for predict needs a 'path' column (found {', '.join(rows[0])}).")
            out += [p.parent / r["path"] for r in rows]
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder.")
    return out


def predict(model_dir: Path, images: list[Path], top_k: int = 1, batch_size: int = 64) -> list[dict]:
    onnx_path = model_dir / "model.onnx" if model_dir.is_dir() else model_dir
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: no ONNX model; run `graftline export` (or `dvc repro`).")
    verify(onnx_path)  # against the SHA256SUMS export wrote beside it
    sess = session(onnx_path)
    card = metadata(sess, onnx_path)
    names = card.label_names or [str(j) for j in range(card.num_classes)]
    files = expand(images)
    out = []
    for i in range(0, len(files), batch_size):
        chunk = files[i: i + batch_size]
        try:
            x = model_input(chunk, card)
        except Exception as exc:  # noqa: BLE001 - name the file that failed
            bad = next((f for f in chunk if not _decodes(f, card)), chunk[0])
            raise DataError(f"{bad}: cannot decode image ({type(exc).__name__}: {exc}).") from None
        for path, p in zip(chunk, probabilities(sess, x)):
            order = np.argsort(-p)[:top_k]
            out.append({"image": str(path),
                        "predictions": [{"label": names[j], "prob": float(p[j])} for j in order]})
    return out


def _decodes(path: Path, card: ModelCard) -> bool:
    try:
        model_input([path], card)
        return True
    except Exception:  # noqa: BLE001
        return False


def render(results: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(results, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        k = max((len(r["predictions"]) for r in results), default=1)
        w.writerow(["image"] + [f"{c}{i + 1}" for i in range(k) for c in ("label", "prob")])
        for r in results:
            w.writerow([r["image"]] + [v for p in r["predictions"] for v in (p["label"], f"{p['prob']:.6f}")])
        return buf.getvalue().rstrip("\n")
    return "\n".join(f"{r['image']}: " + ", ".join(f"{p['label']} ({p['prob']:.3f})" for p in r["predictions"])
                     for r in results)
