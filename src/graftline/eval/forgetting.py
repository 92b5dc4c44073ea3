"""Forgetting: how much of the source task a fine-tuned model still solves.

The fine-tuned body gets the ORIGINAL source head back (the source model's own classifier, untouched), and is scored
on the source's held-out eval set (``lineage.source_eval`` in the zoo model's card) — before fine-tuning (the source model
as it was) and after. ``forgetting = before - after``: 0 means nothing was lost; BatchNorm statistics moved by the
target data count as forgetting too, since they are part of the body.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from graftline.eval.logits import accuracy
from graftline.models.card import ModelCard
from graftline.models.heads import head_module_name


def with_source_head(finetuned: torch.nn.Module, source: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``source`` whose body (everything but the classifier) is ``finetuned``'s."""
    prefix = head_module_name(source) + "."
    out = copy.deepcopy(source)
    state = out.state_dict()
    ft = finetuned.state_dict()
    for k in state:
        if not k.startswith(prefix):
            state[k] = ft[k]
    out.load_state_dict(state)
    out.eval()
    return out


def source_eval_set(src_card: ModelCard, project_root: Path, size) -> dict | None:
    """The source's eval split as tensors, or None when the candidate has none on disk."""
    from graftline.models.zoo import load_source

    info = src_card.lineage.source_eval
    if info is None:
        return None
    path = project_root / info.data
    if not path.is_file():
        return None
    return {"path": info.data, **load_source(path, tuple(size))}


def measure(source: torch.nn.Module, finetuned: torch.nn.Module, src: dict, mean, std) -> dict:
    before = accuracy(source, src["x_eval"], src["y_eval"], mean, std)
    after = accuracy(with_source_head(finetuned, source), src["x_eval"], src["y_eval"], mean, std)
    return {"source_eval": src["path"], "source_eval_images": len(src["y_eval"]),
            "source_acc_before": before, "source_acc_after": after, "forgetting": before - after}
