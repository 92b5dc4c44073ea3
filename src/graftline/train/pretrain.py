"""The zoo stage: pretrain the embedded default's source candidates on the synthetic source domains.

Each candidate is a timm architecture trained from scratch on one source domain (``data/demo/sources/<domain>.npz``)
with the shared training loop, saved under the saved-model contract as ``models/zoo/<id>.safetensors`` + ``.json``.
The JSON also records where the source's held-out eval set lives and the accuracy on it, so that forgetting can be
measured after fine-tuning.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from graftline.config import ZooParams, section_hash
from graftline.data.dataset import ArrayData
from graftline.eval.logits import accuracy
from graftline.models import weights
from graftline.models.zoo import load_source
from graftline.project import atomic_dir, write_json_atomic
from graftline.results import ZooCandidate, ZooResult
from graftline.train.loop import FitData, Hooks, fit
from graftline.train.recipe import Recipe

log = logging.getLogger(__name__)


def run_zoo(p: ZooParams, sources_dir: Path, out: Path, project_root: Path, metrics_path: Path | None = None) -> ZooResult:
    """Train every candidate in ``p.candidates``; write ``out`` (a directory) atomically.

    Timings go to ``metrics_path``, not into ``out``: the models' directory must hash the same on every re-run.
    """
    size = (p.image_size, p.image_size)
    rows: list[ZooCandidate] = []
    timings = {}
    cache: dict[str, dict] = {}
    with atomic_dir(out) as tmp:
        for i, cand in enumerate(p.candidates):
            src_path = sources_dir / f"{cand.domain}.npz"
            if cand.domain not in cache:
                cache[cand.domain] = load_source(src_path, size)
            src = cache[cand.domain]
            mean, std = [src["x"].mean().item()], [src["x"].std().item()]
            torch.manual_seed(p.seed + i)  # the initial weights are part of what makes a zoo model reproducible
            model = weights.create(cand.architecture, len(src["classes"]), 1, cand.model_kwargs)
            t0 = time.perf_counter()
            recipe = Recipe(steps=p.steps, batch_size=p.batch_size, lr=p.lr, weight_decay=p.weight_decay,
                            warmup_steps=max(1, p.steps // 10), eval_every=p.steps, augment=True, seed=p.seed + i)
            fit(model, FitData(ArrayData(src["x"], src["y"]), None, mean, std), recipe, Hooks(desc=f"zoo {cand.id}"))
            eval_acc = accuracy(model, src["x_eval"], src["y_eval"], mean, std)
            seconds = time.perf_counter() - t0
            meta = {
                "architecture": cand.architecture, "model_kwargs": cand.model_kwargs,
                "num_classes": len(src["classes"]), "in_chans": 1, "input_size": [1, *size],
                "mean": mean, "std": std, "classes": src["classes"], "source": f"zoo:{cand.id}",
                "data_hash": src["hash"], "params_hash": section_hash(p),
                "source_eval": {"data": src_path.resolve().relative_to(project_root.resolve()).as_posix(),
                                "split": "eval", "accuracy": eval_acc},
            }
            digest = weights.save(tmp / cand.id, model, meta)
            rows.append(ZooCandidate(id=cand.id, architecture=cand.architecture, domain=cand.domain,
                                     source_eval_accuracy=eval_acc, weights_sha256=digest))
            timings[cand.id] = {"train_seconds": round(seconds, 2), "source_eval_accuracy": eval_acc}
            log.info("zoo: %-32s source eval acc %.3f  (%.1f s)", cand.id, eval_acc, seconds)
        result = ZooResult(candidates=rows)
        result.write(tmp / "zoo.json")
    if metrics_path is not None:
        write_json_atomic(metrics_path, timings)
    return result
