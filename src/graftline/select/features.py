"""Penultimate features of a candidate on target images, with the candidate's own preprocessing.

The candidate's data config (input size, channels, mean, std) decides how target images are decoded: wrong resizing
or normalisation silently breaks rankings (thuml/LogME issue #7).
"""

from __future__ import annotations

import numpy as np
import torch

from graftline.data.images import normalize


@torch.inference_mode()
def penultimate(model: torch.nn.Module, x: torch.Tensor, mean, std, batch_size: int = 256) -> np.ndarray:
    """``forward_features`` + ``forward_head(pre_logits=True)`` in eval mode -> float64 [N, head_hidden_size]."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        f = model.forward_features(normalize(x[i: i + batch_size], mean, std))
        out.append(model.forward_head(f, pre_logits=True).flatten(1).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))
