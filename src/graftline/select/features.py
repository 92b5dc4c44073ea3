"""What a candidate sees of the target: penultimate features and source-head logits, extracted once and cached.

The candidate's own preprocessing (input size, channels, mean, std from its timm data config or its zoo JSON)
decides how target images are decoded: wrong resizing or normalisation silently breaks rankings (thuml/LogME
issue #7). Features are cached under a key made of everything they depend on — the candidate's weights hash, the
target images' content hashes and labels' order, the preprocessing, the number of augmented views — so adding a
candidate scores only that one, and re-running select after a params change that does not touch them costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from graftline.data.augment import augment_batch
from graftline.data.dataset import ImageDataset
from graftline.data.images import normalize
from graftline.eval.logits import batches, channels_last_pays, device_of, forward_batch, to_channels_last
from graftline.models.card import ModelCard

CACHE_VERSION = 2  # bump when what is extracted changes (2: the card's antialiased resize and centre crop)


@dataclass(frozen=True)
class Target:
    """The labelled target images a candidate is scored on (paths relative to ``root``)."""

    root: str
    paths: tuple[str, ...]
    sha256: tuple[str, ...]
    labels: tuple[int, ...]
    color_mode: str = "auto"  # the data's colour policy and pixel bound (data/prepared/meta.json)
    max_pixels: int | None = None


@torch.inference_mode()
def extract(model: torch.nn.Module, data, mean, std, batch_size: int = 256, views: int = 1,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """(penultimate features [V*N, head_hidden_size], source-head logits [V*N, source classes] or None), eval mode.

    ``data`` is a tensor or a streaming dataset (``graftline.data.dataset``); view 0 is the images as they are,
    views 1.. are augmented copies (the training augmentation), view-major. ``forward_features`` once, then
    ``forward_head`` with and without ``pre_logits`` — timm's own split, so the features are exactly what the new
    head will see. Runs on the model's device (a GPU when select put it there).
    """
    model.eval()
    dev = device_of(model)
    feats, logits, cl, converted = [], [], None, False
    has_head = getattr(model, "num_classes", 0) > 0
    g = torch.Generator().manual_seed(seed)
    for v in range(max(1, views)):
        for x in batches(data, batch_size):
            if cl is None and (cl := channels_last_pays(x, dev)):  # large inputs: eval/logits.py says why
                converted = to_channels_last(model)
            x = x if v == 0 else augment_batch(x, g)
            step = forward_batch(len(x), *x.shape[-2:])
            for i in range(0, len(x), step):
                xb = normalize(x[i: i + step].to(dev), mean, std)
                f = model.forward_features(xb.contiguous(memory_format=torch.channels_last) if cl else xb)
                feats.append(model.forward_head(f, pre_logits=True).flatten(1).float().cpu().numpy())
                if has_head:
                    logits.append(model.forward_head(f).float().cpu().numpy())
    if converted:
        model.to(memory_format=torch.contiguous_format)
    f = np.concatenate(feats) if feats else np.zeros((0, 0), np.float32)
    return f, (np.concatenate(logits) if has_head and logits else None)


def cache_key(weights_sha256: str, target: Target, card: ModelCard, views: int) -> str:
    pre = card.preprocess
    payload = {"v": CACHE_VERSION, "weights": weights_sha256, "images": hashlib.sha256("\n".join(target.sha256).encode()).hexdigest(),
               "in_chans": card.in_chans, "size": list(pre.input_size), "mean": list(pre.mean), "std": list(pre.std),
               "interpolation": pre.interpolation, "crop_pct": pre.crop_pct, "crop_mode": pre.crop_mode,
               "views": views, "color_mode": target.color_mode}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def candidate_features(model: torch.nn.Module, card: ModelCard, target: Target, views: int, batch_size: int,
                       cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Features and source logits of ``target`` (all views) through ``model``: (features, logits, from_cache)."""
    path = None
    if cache_dir is not None:
        path = cache_dir / f"{cache_key(card.weights_sha256, target, card, views)}.npz"
        if path.is_file():
            try:
                with np.load(path) as z:
                    return z["features"], (z["logits"] if "logits" in z.files else None), True
            except (OSError, ValueError, KeyError):  # a damaged entry is recomputed, never trusted
                path.unlink(missing_ok=True)
    data = ImageDataset(Path(target.root), list(target.paths), torch.tensor(target.labels), card.in_chans,
                        card.preprocess.resize, color_mode=target.color_mode, max_pixels=target.max_pixels)
    if torch.cuda.is_available():
        model.to("cuda")
    feats, logits = extract(model, data, card.preprocess.mean, card.preprocess.std, batch_size, views)
    if path is not None:
        from graftline.atomic import write_bytes_atomic
        import io

        buf = io.BytesIO()
        arrays = {"features": feats} | ({"logits": logits} if logits is not None else {})
        np.savez(buf, **arrays)
        write_bytes_atomic(path, buf.getvalue())
    return feats, logits, False
