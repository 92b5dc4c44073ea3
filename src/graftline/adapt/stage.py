"""The adapt mode's two arms (``adapt.method`` != none): the finetune stage's adapted model and the baseline
stage's source-only model, same budget, batches and seed, so that check (adapted vs source-only on the target's
test split) and export run unchanged.

Unlike fine-tuning, the selected candidate keeps its *source* head: adaptation needs a classifier that already
solves the source task. Its rows are put in the target's class order (the target's classes must be among the
source's, by name). Labelled source images: ``adapt.source`` (a .npz, a folder ``<class>/<image>`` or a CSV) or the candidate's
own source data. Unlabelled
target images: ``adapt.target_folder`` or data/prepared's train+val images — their labels are never read (the
no-leak test in tests/unit/test_adapt.py). With no target labels, the scores recorded are label-free (criteria.py:
DEV on the source's eval images weighted towards the target, and SND), not a validation accuracy.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from graftline.adapt import METHODS
from graftline.adapt.criteria import dev, snd
from graftline.adapt.data import folder_images, labelled_source, target_images
from graftline.adapt.loop import AdaptRecipe, adapt
from graftline.config import AdaptParams, section_hash
from graftline.data.dataset import data_policy
from graftline.data.manifest import read_manifest
from graftline.errors import ConfigError, DataError
from graftline.models import weights
from graftline.models.candidates import Candidate, load as load_candidate, resolve
from graftline.models.card import Lineage, ModelCard
from graftline.project import Project, record_timings
from graftline.atomic import atomic_dir, write_json_atomic
from graftline.results import SelectionReport, TrainResult

log = logging.getLogger(__name__)


def _source(p: AdaptParams, src_card: ModelCard, candidate: str, project_root: Path, size, color_mode: str) -> dict:
    path = p.source or (src_card.lineage.source_eval.data if src_card.lineage.source_eval else None)
    if not path:
        raise ConfigError(f"adapt.method={p.method} needs labelled source images, but params.yaml sets no "
                          f"adapt.source and the selected candidate {candidate} records none (source_eval.data in "
                          "its model card). Set adapt.source to a folder <class>/<image>, a CSV path,label or a .npz.")
    return labelled_source(project_root / path, src_card.in_chans, size, color_mode)


def _to_target_order(model: torch.nn.Module, src: dict, head_classes: list[str], classes: list[str]) -> dict:
    """Reorder the source head's rows to the target's classes; keep (and relabel) the source images of those."""
    missing = [c for c in classes if c not in head_classes]
    if missing:
        raise DataError(f"data/prepared/classes.json: the target classes {missing} are not among the source "
                        f"model's classes {head_classes}; adaptation keeps the task, so every target class must be "
                        "a source class (same name). Rename the target folders or choose another source.")
    head = model.get_classifier()
    rows = torch.tensor([head_classes.index(c) for c in classes])
    with torch.no_grad():
        head.weight = torch.nn.Parameter(head.weight[rows].clone())
        head.bias = torch.nn.Parameter(head.bias[rows].clone())
    head.out_features = len(classes)
    new = {c: i for i, c in enumerate(classes)}
    names = [str(c) for c in src["classes"]]
    out = {}
    for x, y in (("x", "y"), ("x_eval", "y_eval")):
        lab = [new.get(names[int(v)], -1) for v in src[y]]
        keep = torch.tensor([v >= 0 for v in lab], dtype=torch.bool)
        out[x], out[y] = src[x][keep], torch.tensor([v for v in lab if v >= 0], dtype=torch.long)
    return out


def _candidate(p: AdaptParams, selection_path: Path, zoo_dir: Path, project_root: Path) -> Candidate:
    """``adapt.candidate`` (no target label involved), else the select stage's pick."""
    if p.candidate:
        return resolve([p.candidate], zoo_dir, project_root)[0]
    log.warning("adapt.candidate is null: adapting select's pick, which was scored with the target's train+val "
                "labels; set adapt.candidate to keep every target label out of training and selection")
    return Candidate.from_dict(SelectionReport.read(selection_path).selected_spec.model_dump())


def run_adapt_arm(p: AdaptParams, arm: str, seed: int, proj: Project) -> TrainResult:
    """``arm`` finetune: ``p.method``; baseline: source_only with the same recipe -> ``proj.arm(arm, seed)``."""
    prepared, project_root, selection_path, zoo_dir = proj.prepared, proj.root, proj.selection, proj.zoo
    method = p.method if arm == "finetune" else "source_only"
    cand = _candidate(p, selection_path, zoo_dir, project_root)
    model, src_card = load_candidate(cand, project_root)
    # the source weights' own transform (interpolation, crop_pct): what the adapted model's card serves with
    size, in_chans = src_card.preprocess.resize, src_card.in_chans
    rows, classes, dmeta = read_manifest(prepared)
    color_mode, max_pixels = data_policy(dmeta)
    src = _to_target_order(model, _source(p, src_card, cand.name, project_root, size, color_mode),
                           src_card.label_names or [], classes)
    tx = (folder_images(project_root / p.target_folder, in_chans, size, color_mode)
          if p.target_folder else target_images(prepared, project_root, ("train", "val"), in_chans, size))
    # null: the method's own default (its class's trade_off, chosen by DEV: adapt/registry.py)
    trade_off = METHODS[method].trade_off if p.trade_off is None or method == "source_only" else p.trade_off
    recipe = AdaptRecipe(method=method, steps=p.steps, batch_size=p.batch_size, lr=p.lr, momentum=p.momentum,
                         weight_decay=p.weight_decay, backbone_lr=p.backbone_lr, trade_off=trade_off, seed=seed,
                         augment=p.augment)
    mean, std = src_card.preprocess.mean, src_card.preprocess.std
    t0 = time.perf_counter()
    adapt(model, src["x"], src["y"], tx, recipe, mean, std)
    seconds = time.perf_counter() - t0
    score = {"dev": dev(model, src["x_eval"][:1000], src["y_eval"][:1000], tx, mean, std),
             "snd": snd(model, tx, mean, std)}
    log.info("adapt %s seed %d: %d source, %d target images, DEV %.3f, %.1f s", method, seed, len(src["x"]),
             len(tx), score["dev"], seconds)
    card = ModelCard(
        architecture=src_card.architecture, model_kwargs=src_card.model_kwargs, num_classes=len(classes),
        in_chans=in_chans, label_names=classes, preprocess=src_card.preprocess.for_data(color_mode, max_pixels),
        lineage=Lineage(source=cand.name, data_hash=dmeta["data_hash"], params_hash=section_hash(p),
                        source_weights_sha256=src_card.weights_sha256,
                        init="adapted" if method != "source_only" else "source_only", strategy=f"adapt:{method}",
                        regularizer="none"))
    summary = TrainResult(
        val_acc=None, best_val_acc=None, seed=seed, best_step=p.steps, kept_step=p.steps, steps=p.steps,
        steps_done=p.steps, stopped_early=False, lr=p.lr, strategy=f"adapt:{method}", regularizer="none",
        train_images=len(src["x"]), val_images=0, processes=1,
        init=card.lineage.init, source=cand.name,
        adapt={"method": method, "trade_off": trade_off, "target_images": len(tx), **score,
               "target": p.target_folder or "data/prepared train+val (labels ignored)"})
    with atomic_dir(proj.arm(arm, seed)) as tmp:
        summary.model_sha256 = weights.save(tmp / "model", model, card)
    summary.write(proj.arm_metrics(arm, seed))
    record_timings(proj, f"{arm}/seed-{seed}", {"train_seconds": round(seconds, 2)})
    write_json_atomic(proj.arm_metrics(arm, seed).with_suffix("") / "adapt.json",
                      {**summary.adapt.model_dump(), "recipe": vars(recipe)})
    return summary
