"""What the run report shows, read from the stages' output files (never by importing a stage).

Every section is optional: a file that is missing (a stage that has not run) leaves its section out and is named
in ``missing``. The check verdict is read tolerantly: ``verdict``/``ntg_low``/``ntg_high``/``confidence`` when the
check stage writes them, else today's ``ntg``/``passed``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class RunData:
    root: Path
    files: dict[str, Optional[dict]] = field(default_factory=dict)  # name -> parsed JSON (None: missing)
    confusion: Optional[np.ndarray] = None
    per_class: Optional[list[tuple[str, float, int]]] = None  # class, accuracy, test images
    classes: list[str] = field(default_factory=list)
    predictions: Optional[tuple[np.ndarray, np.ndarray, list[str]]] = None  # test: true, predicted, class names

    def get(self, name: str) -> Optional[dict]:
        return self.files.get(name)

    seed: int = 0

    @property
    def missing(self) -> list[str]:
        return [FILES[n].format(seed=self.seed) for n, d in self.files.items() if d is None]


FILES = {
    "prepared": "data/prepared/meta.json",
    "validation": "reports/validation.json",
    "zoo": "models/zoo/zoo.json",
    "selection": "reports/selection.json",
    "finetune": "metrics/finetune/seed-{seed}.json",
    "baseline": "metrics/baseline/seed-{seed}.json",
    "check": "metrics/check.json",
    "export": "metrics/export.json",
    "model": "models/finetuned/seed-{seed}/model.json",
}


def primary_seed(root: Path) -> int:
    """The seed whose arms the report shows: the exported one (check.json), else the lowest trained one."""
    check = _read(root / "metrics" / "check.json")
    if check and "exported_seed" in check:
        return int(check["exported_seed"])
    seeds = sorted(int(p.name.split("-", 1)[1]) for p in (root / "models" / "finetuned").glob("seed-*")
                   if p.name.split("-", 1)[1].lstrip("-").isdigit())
    return seeds[0] if seeds else 0


def _read(path: Path) -> Optional[dict]:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        log.warning("report: %s is not valid JSON (%s); its section is left out", path, exc)
        return None


def test_predictions(root: Path, seed: int = 0) -> Optional[tuple[np.ndarray, np.ndarray, list[str]]]:
    """(true, predicted, classes) of the fine-tuned model on the test split; None when the model or data is missing.

    Read from ``metrics/predictions.json`` when a stage wrote one, else computed here from models/finetuned."""
    saved = _read(root / "metrics" / "predictions.json")
    if saved is not None and {"y_true", "y_pred", "classes"} <= set(saved):
        return np.asarray(saved["y_true"]), np.asarray(saved["y_pred"]), list(saved["classes"])
    stem, prepared = root / "models" / "finetuned" / f"seed-{seed}" / "model", root / "data" / "prepared"
    if not stem.with_suffix(".json").is_file() or not (prepared / "meta.json").is_file():
        return None
    from graftline.data.dataset import load_split
    from graftline.eval.logits import predict_logits
    from graftline.models import weights

    model, card = weights.load(stem)
    pre = card.preprocess
    test = load_split(prepared, root, "test", card.in_chans, pre.size, pre)
    pred = predict_logits(model, test.data, pre.mean, pre.std).argmax(1).numpy()
    return test.y.numpy(), pred, list(test.classes)


def collect(root: Path) -> RunData:
    seed = primary_seed(root)
    data = RunData(root=root, files={name: _read(root / rel.format(seed=seed)) for name, rel in FILES.items()},
                   seed=seed)
    preds = test_predictions(root, seed)
    if preds is not None:
        from graftline.eval.logits import confusion, per_class_accuracy

        y, p, classes = preds
        data.predictions = preds
        k = len(classes)
        data.classes = classes
        data.confusion = confusion(y, p, k)
        acc = per_class_accuracy(y, p, k)
        data.per_class = [(c, float(a), int(n)) for c, a, n in zip(classes, acc, data.confusion.sum(1))]
    return data


def verdict(check: dict) -> dict[str, Any]:
    """The check verdict with its interval when the check stage gives one (else the point NTG and the gate)."""
    out = {"ntg": check.get("ntg"), "passed": check.get("passed"), "max_ntg": check.get("max_ntg"),
           "low": check.get("ntg_low"), "high": check.get("ntg_high"), "confidence": check.get("confidence")}
    out["verdict"] = check.get("verdict") or ("passed" if check.get("passed") else "failed")
    return out


def lineage(d: RunData) -> list[tuple[str, str, str]]:
    """(what, hash, where) from the data to the shipped ONNX file."""
    rows = []
    if d.get("prepared"):
        rows.append(("prepared data", d.get("prepared")["data_hash"], FILES["prepared"]))
    sel, zoo = d.get("selection"), d.get("zoo")
    if sel:
        pick = next((e for e in sel["ranking"] if e["candidate"] == sel["selected"]), {})
        if pick.get("weights_sha256"):
            rows.append((f"source weights ({sel['selected']})", pick["weights_sha256"], "reports/selection.json"))
    elif zoo:
        rows.append(("zoo", ", ".join(c["id"] for c in zoo["candidates"]), FILES["zoo"]))
    if d.get("finetune") and d.get("finetune").get("model_sha256"):
        rows.append(("fine-tuned weights", d.get("finetune")["model_sha256"],
                     f"models/finetuned/seed-{d.seed}/model.safetensors"))
    if d.get("export"):
        rows.append(("ONNX model", d.get("export")["onnx_sha256"], "models/export/model.onnx"))
    return rows


def judged(d: RunData) -> dict[str, float]:
    """The numbers that judge a run, key ones first (``dvc exp show`` / ``dvc metrics diff`` columns, in order).
    Timings, hashes and names stay in the stages' own records; only what is present is written."""
    out: dict[str, float] = {}
    chk, exp, sel, ft, bl = (d.get(n) or {} for n in ("check", "export", "selection", "finetune", "baseline"))
    for key in ("transfer_acc", "scratch_acc", "ntg", "ntg_low", "ntg_high", "confidence"):
        if isinstance(chk.get(key), (int, float)):
            out[key] = chk[key]
    if "passed" in chk:
        out["check_passed"] = int(bool(chk["passed"]))
    if (ft.get("forgetting") or {}).get("forgetting") is not None:
        out["forgetting"] = ft["forgetting"]["forgetting"]
    if sel:
        pick = next((r for r in sel["ranking"] if r["candidate"] == sel["selected"]), {})
        if pick.get(sel["estimator"]) is not None:
            out["selected_score"] = pick[sel["estimator"]]
    for arm, rec in (("finetune", ft), ("baseline", bl)):
        if rec.get("val_acc") is not None:
            out[f"{arm}_val_acc"] = rec["val_acc"]
    for key in ("parity_max_abs_diff", "top1_agreement", "onnx_test_acc"):
        if key in exp:
            out[key] = exp[key]
    out.update({k: v for k, v in exp.items() if "latency" in k and isinstance(v, (int, float))})
    if "passed" in exp:
        out["export_passed"] = int(bool(exp["passed"]))
    if d.per_class:
        out["min_class_acc"] = min(a for _, a, n in d.per_class if n)
    return out
