"""The embedded default's source domains and zoo, as data: ``data/demo/sources/<domain>.npz`` -> tensors.

The zoo stage that trains on them is ``graftline.train.pretrain``; the zoo's listing is ``candidates.zoo_members``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from graftline.data.images import to_input


def load_source(path: Path, size: tuple[int, int]) -> dict:
    """A source domain file -> tensors for its train and eval splits, plus classes and content hash."""
    with np.load(path) as z:
        x, y, split, classes = z["x"], z["y"], z["split"], [str(c) for c in z["classes"]]
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    xt = to_input(x, size)
    yt = torch.from_numpy(y.astype(np.int64))
    tr, ev = torch.from_numpy(split == "train"), torch.from_numpy(split == "eval")
    return {"x": xt[tr], "y": yt[tr], "x_eval": xt[ev], "y_eval": yt[ev], "classes": classes, "hash": digest}
