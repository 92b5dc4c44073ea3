"""Logits and the numbers computed from them, for any data: a tensor in memory or a streaming dataset.

``data`` is a float tensor [N, C, H, W] in [0, 1] or a dataset from ``graftline.data.dataset`` (its ``take`` in this
process, or ``DataLoader`` workers when it streams). Normalisation (``mean``/``std``; None skips it, for features)
happens here, on the model's device, batch by batch; the model runs in eval mode and is put back as it was.
"""

from __future__ import annotations

from typing import Iterator

import torch

from graftline.data.images import normalize


# Measured on this machine's CPUs with tf_efficientnet_lite0 at 224 px (benchmarks/speed224.py, docs/benchmarks.md):
# channels_last 1.6-1.9x faster for inference and ~1.5x for training; a forward batch of 16 images 1.7x faster than
# one of 48. Below 64x64 px (the demo's 32 px) the layout and batch stay as they were, so the demo's numbers stay
# bit-identical (channels_last would pay there too: a switch for a release that re-runs the demo anyway).
CHANNELS_LAST_MIN_PIXELS = 64 * 64
FORWARD_PIXELS = 16 * 224 * 224  # images per forward pass: at most this many input pixels


def channels_last_pays(x: torch.Tensor | tuple, device: torch.device) -> bool:
    """Whether to run a conv net channels_last on ``device`` for inputs like ``x`` (a batch, or (H, W))."""
    h, w = (x.shape[-2:] if isinstance(x, torch.Tensor) else x)[-2:]
    if isinstance(x, torch.Tensor) and x.dim() != 4:
        return False
    return device.type == "cuda" or h * w >= CHANNELS_LAST_MIN_PIXELS


def to_channels_last(model: torch.nn.Module) -> bool:
    """Put ``model`` in channels_last; True if this changed it (the caller then puts it back, so a training run's
    layout is the same before and after an evaluation: resume stays bit-exact)."""
    w = next((p for p in model.parameters() if p.dim() == 4), None)
    if w is None or (w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()):
        return False
    model.to(memory_format=torch.channels_last)
    return True


def forward_batch(batch_size: int, h: int, w: int) -> int:
    """The images one forward pass takes: ``batch_size``, fewer when the images are large."""
    return max(1, min(batch_size, FORWARD_PIXELS // max(1, h * w)))


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
    out, cl, converted = [], None, False
    for x in batches(data, batch_size):
        if cl is None and (cl := channels_last_pays(x, dev)):
            converted = to_channels_last(model)
        step = forward_batch(len(x), *x.shape[-2:]) if x.dim() == 4 else len(x)
        for i in range(0, len(x), step):
            xb = prep(x[i: i + step].to(dev), mean, std)
            out.append(model(xb.contiguous(memory_format=torch.channels_last) if cl else xb).float().cpu())
    if converted:
        model.to(memory_format=torch.contiguous_format)
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def accuracy(model: torch.nn.Module, data, y: torch.Tensor | None = None, mean=None, std=None) -> float:
    """Top-1 accuracy of ``model`` on ``data`` (labels ``y``, default the dataset's own)."""
    y = data.labels if y is None else y
    if len(y) == 0:
        return float("nan")
    return (predict_logits(model, data, mean, std).argmax(1) == y).float().mean().item()
