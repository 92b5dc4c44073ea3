"""Logits and the numbers computed from them, for any data: a tensor in memory or a streaming dataset.

``data`` is a float tensor [N, C, H, W] in [0, 1] or a dataset from ``graftline.data.dataset`` (its ``take`` in this
process, or ``DataLoader`` workers when it streams). Normalisation (``mean``/``std``; None skips it, for features)
happens here, on the model's device, batch by batch; the model runs in eval mode and is put back as it was.
"""

from __future__ import annotations

from typing import Iterator

import torch

from graftline.data.images import normalize


def device_of(model: torch.nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def prep(x: torch.Tensor, mean, std) -> torch.Tensor:
    return x if mean is None else normalize(x, mean, std)


def batches(data, batch_size: int = 256) -> Iterator[torch.Tensor]:
    """The inputs of ``data`` in order, ``batch_size`` at a time (labels dropped)."""
    if isinstance(data, torch.Tensor):
        for i in range(0, len(data), batch_size):
            yield data[i: i + batch_size]
        return
    workers = getattr(data, "workers", 0)
    if workers:
        loader = data.loader(batch_size) if hasattr(data, "loader") else torch.utils.data.DataLoader(
            data, batch_size=batch_size, shuffle=False, num_workers=workers)  # persistent workers where offered
        for x, _ in loader:
            yield x
        return
    for i in range(0, len(data), batch_size):
        yield data.take(torch.arange(i, min(i + batch_size, len(data))))[0]


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, data, mean=None, std=None, batch_size: int = 256) -> torch.Tensor:
    """Logits [N, classes] on the CPU."""
    was_training = model.training
    model.eval()
    dev = device_of(model)
    out = [model(prep(x.to(dev), mean, std)).float().cpu() for x in batches(data, batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def accuracy(model: torch.nn.Module, data, y: torch.Tensor | None = None, mean=None, std=None) -> float:
    """Top-1 accuracy of ``model`` on ``data`` (labels ``y``, default the dataset's own)."""
    y = data.labels if y is None else y
    if len(y) == 0:
        return float("nan")
    return (predict_logits(model, data, mean, std).argmax(1) == y).float().mean().item()
