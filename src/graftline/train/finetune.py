"""The finetune and baseline stages: the two arms of the transfer-vs-scratch comparison.

``finetune``: the selected candidate's pretrained weights with a new head, trained with ``finetune.strategy``
(train/strategies.py) and ``finetune.regularizer`` (train/regularizers.py); forgetting of the source task is
measured (eval/forgetting.py). ``baseline``: the same architecture from random initialisation, the
same data, steps, batch and recipe — only the learning rate is its own (``check.scratch_lr``), because a scratch
model tuned with a fine-tuning rate is an under-trained straw man.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace

import torch

from graftline.config import FinetuneParams, section_hash
from graftline.data.dataset import data_policy, load_split
from graftline.errors import ModelError
from graftline.eval import forgetting as forgetting_
from graftline.eval.forgetting import source_eval_set
from graftline.models import weights
from graftline.models.candidates import Candidate, load as load_candidate
from graftline.models.card import Lineage, ModelCard
from graftline.models.heads import head_param_names
from graftline.project import Project, record_timings
from graftline.atomic import atomic_dir
from graftline.results import SelectionReport, TrainResult
from graftline.train import checkpoint as ckpt
from graftline.train import distributed as dist
from graftline.train import regularizers
from graftline.train.curves import Curves
from graftline.train.loop import FitData
from graftline.train.recipe import Hooks, Recipe
from graftline.train.strategies import run_strategy


def init_model(pretrained: torch.nn.Module | None, src_card: ModelCard, num_classes: int,
               zero_init_head: bool) -> torch.nn.Module:
    """The starting point of an arm: the pretrained body with a new head, or the same architecture from scratch.

    With ``zero_init_head`` the classifier starts at zero in both arms (Kolesnikov et al., "Big Transfer (BiT)",
    ECCV 2020). Measured on the embedded default (4 seeds, 3 labels per class): transfer 0.950 ± 0.002 vs
    0.931 ± 0.009 with a random head; scratch 0.864 ± 0.008 vs 0.855 ± 0.018 — better and steadier for both arms.
    """
    if pretrained is not None:
        model = pretrained
        model.reset_classifier(num_classes)  # a new head for the target classes
    else:
        model = weights.create(src_card.architecture, num_classes, src_card.in_chans, src_card.model_kwargs)
    if zero_init_head:
        head = model.get_classifier()
        for t in head.parameters():
            torch.nn.init.zeros_(t)
    return model


def _recipe(p: FinetuneParams, lr: float, seed: int = 0) -> Recipe:
    return Recipe(steps=p.steps, batch_size=p.batch_size, lr=lr, weight_decay=p.weight_decay,
                  warmup_steps=p.warmup_steps, eval_every=p.eval_every, augment=p.augment, seed=seed,
                  keep_best=p.keep_best, patience=p.patience, device=p.device, amp=p.amp)


def _probe_recipe(p: FinetuneParams, seed: int = 0) -> Recipe:
    """The linear probe's head-only phase: cached features, no augmentation, its own steps and rate."""
    return replace(_recipe(p, p.probe_lr, seed), steps=p.probe_steps, warmup_steps=0, augment="none")


def _fingerprint(arm: str, p: FinetuneParams, lr: float, seed: int, data_hash: str, start_sha: str | None) -> str:
    """What a checkpoint must match to be resumed: the arm's params, its rate, the data and the starting weights."""
    blob = json.dumps([arm, p.model_dump(mode="json", exclude={"resume", "device", "amp"}), lr, seed, data_hash,
                       start_sha, dist.world_size()], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _penalty(p: FinetuneParams, model: torch.nn.Module, source: torch.nn.Module, src: dict | None,
             mean, std, candidate: str, seed: int = 0):
    anchor = regularizers.Anchor(source, head_param_names(model), src, mean, std, seed, candidate)
    return regularizers.REGISTRY[p.regularizer].build(model, anchor, p)


def _train_arm(arm: str, p: FinetuneParams, lr: float, seed: int, proj: Project, pretrained: bool) -> TrainResult:
    prepared, project_root, selection_path = proj.prepared, proj.root, proj.selection
    out = proj.arm(arm, seed)
    live_dir = proj.arm_metrics(arm, seed).with_suffix("")
    dist.init()
    selection = SelectionReport.read(selection_path)
    source = selection.selected
    model, src_card = load_candidate(Candidate.from_dict(selection.selected_spec.model_dump()), project_root)
    size = src_card.preprocess.resize  # the candidate's own resize and crop (data.transforms), as select saw it
    train = load_split(prepared, project_root, "train", src_card.in_chans, size)
    val = load_split(prepared, project_root, "val", src_card.in_chans, size)
    classes, dmeta = train.classes, train.meta
    mean, std = src_card.preprocess.mean, src_card.preprocess.std
    strategy = p.strategy if pretrained else "full"  # scratch has nothing to probe, protect or unfreeze
    source_model = copy.deepcopy(model) if pretrained else None
    src = source_eval_set(src_card, project_root, src_card.preprocess.size) if pretrained else None
    torch.manual_seed(seed)
    model = init_model(model if pretrained else None, src_card, len(classes), p.zero_init_head)
    arm_p = p if pretrained else p.model_copy(update={"regularizer": "none"})
    penalty = _penalty(arm_p, model, source_model, src, mean, std, source, seed) if pretrained else None
    recipe = _recipe(p, lr, seed)
    if len(val) < p.min_val_images:  # too few val images to trust a stop: the full budget (the same rule both arms)
        recipe = replace(recipe, patience=0)
    if regularizers.REGISTRY[arm_p.regularizer].replaces_weight_decay:
        recipe = replace(recipe, weight_decay=0.0)  # e.g. L2-SP replaces weight decay (see regularizers.py)
    ckpt_dir = project_root / "checkpoints" / arm / f"seed-{seed}"
    fingerprint = _fingerprint(arm, arm_p, lr, seed, dmeta["data_hash"], src_card.weights_sha256)
    curves = Curves(live_dir, p.probe_steps if strategy == "lp_ft" else 0)
    hooks = Hooks(penalty=penalty, on_eval=curves, fingerprint=fingerprint, desc=arm)
    result, facts = run_strategy(strategy, model, FitData(train.data, val.data, mean, std), recipe, _probe_recipe(p, seed),
                                 hooks, ckpt_dir if p.resume else None, layer_decay=p.layer_decay,
                                 unfreeze_every=p.unfreeze_every)
    forgetting = forgetting_.measure(source_model, model, src, mean, std) if src is not None else None
    card = ModelCard(
        architecture=src_card.architecture, model_kwargs=src_card.model_kwargs, num_classes=len(classes),
        in_chans=src_card.in_chans, label_names=classes, preprocess=src_card.preprocess.for_data(*data_policy(dmeta)),
        lineage=Lineage(source=source if pretrained else "scratch", data_hash=dmeta["data_hash"],
                        params_hash=section_hash(p.model_copy(update={"lr": lr})),
                        source_weights_sha256=src_card.weights_sha256, init="pretrained" if pretrained else "scratch",
                        strategy=strategy, regularizer=arm_p.regularizer), augment=p.augment)
    summary = TrainResult(
        val_acc=result.best_val_acc if p.keep_best else result.final_val_acc, best_val_acc=result.best_val_acc,
        seed=seed, best_step=result.best_step, kept_step=result.kept_step, steps=p.steps, steps_done=result.steps_done,
        stopped_early=result.stopped_early, lr=lr, strategy=strategy, regularizer=arm_p.regularizer,
        train_images=len(train), val_images=len(val), processes=dist.world_size(), init=card.lineage.init,
        source=card.lineage.source, forgetting=forgetting, **{k: v for k, v in facts.items() if k != "strategy"})
    if not dist.is_main():
        return summary
    with atomic_dir(out) as tmp:
        summary.model_sha256 = weights.save(tmp / "model", model, card)
    live = {k: v for k, v in summary.model_dump().items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    curves.close({**live, **({"forgetting": forgetting["forgetting"]} if forgetting else {})})
    summary.write(proj.arm_metrics(arm, seed))
    record_timings(proj, f"{arm}/seed-{seed}", {"train_seconds": round(result.seconds, 2),
                                                "resumed_from_step": result.resumed_from})
    if p.resume:
        ckpt.clear(ckpt_dir)  # the run finished: a re-run is a new run, not a resume
    return summary


def run_finetune(p: FinetuneParams, seed: int, proj: Project) -> TrainResult:
    """Fine-tune the selected candidate with ``p.strategy`` and ``seed`` -> ``models/finetuned/seed-<seed>``;
    metrics (forgetting too) in ``metrics/finetune/seed-<seed>.json``, curves in ``metrics/finetune/seed-<seed>/``."""
    return _train_arm("finetune", p, p.lr, seed, proj, pretrained=True)


# The finetune keys the scratch arm shares with the transfer arm (budget, schedule, data order, device): dvc.yaml's
# baseline stage declares exactly these (tests/integration/test_params_coverage.py measures it).
SCRATCH_KEYS = ("steps", "batch_size", "weight_decay", "warmup_steps", "eval_every", "augment", "keep_best",
                "zero_init_head", "patience", "min_val_images", "device", "amp", "resume")


def run_baseline(p: FinetuneParams, scratch_lr: float, seed: int, proj: Project) -> TrainResult:
    """Train the selected architecture from scratch with the same budget and ``seed`` (the transfer arm's data
    order and augmentation) -> ``models/baseline/seed-<seed>``. Only ``SCRATCH_KEYS`` of ``p`` reach it, the rest
    at their defaults, so its params_hash and checkpoint fingerprint do not change with the transfer arm's own keys
    (lr, strategy, regulariser, probe), which do not re-run it."""
    shared = FinetuneParams(**{k: getattr(p, k) for k in SCRATCH_KEYS})
    return _train_arm("baseline", shared, scratch_lr, seed, proj, pretrained=False)
