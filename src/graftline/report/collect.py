"""What the run report shows, read through the typed results (graftline.results), never by importing a stage.

Every section is optional: a result that is missing (a stage that has not run, or a gate that stopped the run before
it) leaves its section out and is named in ``missing``, but only for stages this project has: a project made by
``graftline init`` has no zoo stage, so its report does not call the zoo "not produced".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, TypeVar

import numpy as np
import yaml

from graftline.project import Project
from graftline.results import (AdaptResult, CheckPredictions, CheckResult, ExportResult, PrepareResult, Result,
                               SelectionReport, TrainResult, ValidationReport, ZooResult)

R = TypeVar("R", bound=Result)

# result -> the dvc.yaml stage that writes it
STAGE_OF = {"prepared": "prepare", "validation": "validate", "zoo": "zoo", "selection": "select",
            "finetune": "finetune", "baseline": "baseline", "check": "check", "predictions": "check",
            "export": "export"}


def files(proj: Project, seed: int) -> dict[str, Path]:
    """Each result's file (the paths ``Project`` owns); the arms' are ``seed``'s."""
    return {"prepared": proj.prepared_meta, "validation": proj.validation, "zoo": proj.zoo_index,
            "selection": proj.selection, "finetune": proj.arm_metrics("finetune", seed),
            "baseline": proj.arm_metrics("baseline", seed), "check": proj.check_json,
            "predictions": proj.test_predictions, "export": proj.export_json}


@dataclass
class RunData:
    root: Path
    seed: int  # the exported seed: the confusion matrix, forgetting and lineage are this seed's
    seeds: list[int]  # every seed of the check (both arms trained with each)
    stages: set[str]  # the project's dvc.yaml stages
    prepared: Optional[PrepareResult] = None
    validation: Optional[ValidationReport] = None
    zoo: Optional[ZooResult] = None
    selection: Optional[SelectionReport] = None
    finetune: dict[int, TrainResult] = field(default_factory=dict)  # seed -> result
    baseline: dict[int, TrainResult] = field(default_factory=dict)
    check: Optional[CheckResult] = None
    predictions: Optional[CheckPredictions] = None
    export: Optional[ExportResult] = None
    adapt: Optional[AdaptResult] = None
    missing: list[str] = field(default_factory=list)  # files of this project's stages that are not there

    @property
    def adapt_method(self) -> str:
        return self.adapt.method if self.adapt is not None else "none"

    @property
    def arm_names(self) -> dict[str, str]:
        """What the two arms are called: transfer/scratch, or adapted/source-only in adapt mode."""
        if self.adapt_method == "none":
            return {"finetune": "transfer", "baseline": "scratch"}
        return {"finetune": f"adapted ({self.adapt_method})", "baseline": "source-only"}

    @property
    def confusion(self) -> Optional[np.ndarray]:
        """Counts [true, predicted] of the exported seed's transfer model on the test split."""
        if self.predictions is None:
            return None
        p = self.predictions  # counted here with numpy: the report imports no torch
        m = np.zeros((len(p.classes), len(p.classes)), dtype=np.int64)
        np.add.at(m, (np.asarray(p.labels, dtype=np.int64), np.asarray(p.of(self.seed).transfer, dtype=np.int64)), 1)
        return m

    @property
    def per_class(self) -> Optional[list[tuple[str, float, int]]]:
        """(class, accuracy, test images) of the exported seed's transfer model; classes without images skipped."""
        m = self.confusion
        if m is None:
            return None
        return [(c, float(m[i, i] / m[i].sum()), int(m[i].sum())) for i, c in enumerate(self.predictions.classes)
                if m[i].sum()]


def _stages(root: Path) -> set[str]:
    """The stages this project's dvc.yaml declares (every known one when there is no dvc.yaml)."""
    path = root / "dvc.yaml"
    if not path.is_file():
        return set(STAGE_OF.values())
    return set((yaml.safe_load(path.read_text()) or {}).get("stages") or {})


def _read(cls: type[R], path: Path) -> Optional[R]:
    return cls.read(path) if path.is_file() else None


def _seeds(root: Path, check: Optional[CheckResult]) -> list[int]:
    if check is not None:
        return list(check.seeds)
    found = {int(p.stem.split("-", 1)[1]) for arm in ("finetune", "baseline")
             for p in (Project(root).metrics / arm).glob("seed-*.json") if p.stem.split("-", 1)[1].lstrip("-").isdigit()}
    return sorted(found)


def collect(root: Path) -> RunData:
    proj = Project(root)
    check = _read(CheckResult, proj.check_json)
    seeds = _seeds(root, check)
    seed = check.exported_seed if check is not None else (seeds[0] if seeds else 0)
    d = RunData(root=root, seed=seed, seeds=seeds, stages=_stages(root), check=check)
    path = files(proj, seed)
    for name, cls in (("prepared", PrepareResult), ("validation", ValidationReport), ("zoo", ZooResult),
                      ("selection", SelectionReport), ("predictions", CheckPredictions), ("export", ExportResult)):
        setattr(d, name, _read(cls, path[name]))
    for arm in ("finetune", "baseline"):
        for s in seeds or [seed]:
            r = _read(TrainResult, proj.arm_metrics(arm, s))
            if r is not None:
                getattr(d, arm)[s] = r
    d.adapt = _read(AdaptResult, proj.adapt_json)
    if d.predictions is not None and not any(s.seed == seed for s in d.predictions.seeds):
        d.predictions = None  # written by another check run than metrics/check.json's (dvc status says stale)
    for name, stage in STAGE_OF.items():
        if stage in d.stages and not getattr(d, name):
            d.missing.append(_rel(root, path[name]))
    return d


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def lineage(d: RunData) -> list[tuple[str, str, str]]:
    """(what, hash, where) from the data to the shipped ONNX file."""
    rows, proj = [], Project(d.root)
    path = files(proj, d.seed)
    if d.prepared:
        rows.append(("prepared data", d.prepared.data_hash, _rel(d.root, path["prepared"])))
    if d.selection:
        pick = d.selection.pick()
        if pick.weights_sha256:
            rows.append((f"source weights ({pick.candidate})", pick.weights_sha256, _rel(d.root, path["selection"])))
    elif d.zoo:
        rows.append(("zoo", ", ".join(c.id for c in d.zoo.candidates), _rel(d.root, path["zoo"])))
    ft = d.finetune.get(d.seed)
    if ft and ft.model_sha256:
        rows.append(("fine-tuned weights", ft.model_sha256,
                     _rel(d.root, proj.arm("finetune", d.seed) / "model.safetensors")))
    if d.export:
        rows.append(("ONNX model", d.export.onnx_sha256, _rel(d.root, proj.onnx_model)))
    return rows


def judged(d: RunData) -> dict[str, float]:
    """The numbers that judge a run, key ones first (``dvc exp show`` / ``dvc metrics diff`` columns, in order).
    Timings, hashes and names stay in the stages' own records; only what is present is written."""
    out: dict[str, float] = {}
    chk, exp, sel = d.check, d.export, d.selection
    if chk:
        out.update(transfer_acc=chk.transfer_acc, scratch_acc=chk.scratch_acc, ntg=chk.ntg, ntg_low=chk.ntg_low,
                   ntg_high=chk.ntg_high, confidence=chk.confidence, check_passed=int(chk.passed))
        if chk.pairs_used is not None:  # the sequential design's cost: pairs trained (stop_reason: check.json)
            out["pairs_used"] = chk.pairs_used
    ft, bl = d.finetune.get(d.seed), d.baseline.get(d.seed)
    if ft and ft.forgetting:
        out["forgetting"] = ft.forgetting.forgetting
    if sel and sel.pick().scores.get(sel.estimator) is not None:
        out["selected_score"] = sel.pick().scores[sel.estimator]
    for arm, rec in (("finetune", ft), ("baseline", bl)):
        if rec and rec.val_acc is not None:
            out[f"{arm}_val_acc"] = rec.val_acc
    if exp:
        out.update(parity_max_abs_diff=exp.parity_max_abs_diff, top1_agreement=exp.top1_agreement,
                   onnx_test_acc=exp.onnx_test_acc, export_passed=int(exp.passed))
    if d.per_class:
        out["min_class_acc"] = min(a for _, a, _ in d.per_class)
    return out
