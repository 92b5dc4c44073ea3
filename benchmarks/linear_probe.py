"""Linear probe on cached features vs running the frozen backbone at every step.

Why: ``finetune.strategy=linear_probe`` (and the first phase of ``lp_ft``) trains only the head. The backbone is
frozen, BatchNorm statistics included, so its features never change: we extract them once and train the head on the
cache. The alternative — the same frozen backbone in the training loop, forward on every batch of every epoch — does
the same arithmetic for the head and far more for the backbone. Both paths here use our loop with the same recipe,
seed and batches, on resnet10t at 32×32; the heads they train agree (printed), the time differs. The speed-up
grows with the number of epochs the head trains for (the extraction is paid once): the default is 30 epochs of 512
images; the embedded default's probe (30 images, 200 steps of 32) is over 200 epochs.

Usage: python benchmarks/linear_probe.py [--images 512] [--steps 480] [--threads 2]. Prints the speed-up last.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.models import weights  # noqa: E402
from graftline.data.dataset import ArrayData  # noqa: E402
from graftline.train.loop import FitData, fit  # noqa: E402
from graftline.train.recipe import Hooks, Recipe  # noqa: E402
from graftline.train.strategies import linear_probe  # noqa: E402

MEAN, STD = [0.2], [0.3]


class FrozenBackboneProbe(torch.nn.Module):
    """The backbone runs on every batch (frozen, eval-mode BatchNorm via the loop), then the head."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.get_classifier().parameters():
            p.requires_grad_(True)

    def forward(self, x):
        with torch.no_grad():
            f = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        return self.model.get_classifier()(f)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--steps", type=int, default=480)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(a.images, 1, 32, 32, generator=g), torch.randint(0, 10, (a.images,), generator=g)
    xv, yv = x[:100], y[:100]
    torch.manual_seed(0)
    base = weights.create("resnet10t", 10, 1)
    recipe = Recipe(steps=a.steps, batch_size=a.batch, lr=1e-2, eval_every=a.steps, augment=False, device="cpu")
    data = FitData(ArrayData(x, y), ArrayData(xv, yv), MEAN, STD)

    cached = copy.deepcopy(base)
    t0 = time.perf_counter()
    linear_probe(cached, data, recipe, Hooks())
    t_cached = time.perf_counter() - t0

    per_step = copy.deepcopy(base)
    probe = FrozenBackboneProbe(per_step)
    t0 = time.perf_counter()
    fit(probe, data, recipe)
    t_step = time.perf_counter() - t0

    diff = (cached.get_classifier().weight - per_step.get_classifier().weight).abs().max().item()
    body_same = all(torch.equal(a_, b_) for (k, a_), b_ in zip(cached.state_dict().items(),
                                                                per_step.state_dict().values())
                    if not k.startswith("fc."))
    out = {"model": "resnet10t", "image_size": 32, "images": a.images, "steps": a.steps, "batch": a.batch,
           "threads": a.threads, "cached_seconds": t_cached, "backbone_every_step_seconds": t_step,
           "speedup": t_step / t_cached, "head_max_abs_diff": diff, "bodies_identical": body_same}
    epochs = a.steps * a.batch / a.images
    out["epochs"] = epochs
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/linear_probe.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"resnet10t 32x32, {a.images} images, {a.steps} head steps of {a.batch} ({epochs:.0f} epochs), "
          f"{a.threads} threads: "
          f"cached features {t_cached:.2f} s (extraction included), backbone every step {t_step:.2f} s; "
          f"heads agree to {diff:.1e}, bodies untouched in both: {body_same}")
    print(f"linear probe speed-up from cached features: {t_step / t_cached:.1f}x")


if __name__ == "__main__":
    main()
