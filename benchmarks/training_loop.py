"""Our training loop vs a bare PyTorch loop: training throughput on the same model, batch and threads.

Why: the loop does more than a bare loop — per-epoch validation, an atomic checkpoint (model + optimizer + RNG +
data order) at every epoch end, early-stopping bookkeeping, dvclive hooks. This measures what that costs. Both loops
train resnet10t on 32×32 images with AdamW, warmup + cosine and the same augmentation; the bare loop has no
evaluation and no checkpoints. Runs alternate (bare, ours, bare, ours, ...) so that noise on a shared machine hits
both; the median of each is compared. An epoch here is 50 steps (1,600 images) — the checkpoint's cost is per
epoch, so the ratio depends on the epoch length; it is printed too.

Usage: python benchmarks/training_loop.py [--steps 150] [--threads 2] [--repeats 3]. Prints the ratio last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.data.images import normalize  # noqa: E402
from graftline.models import weights  # noqa: E402
from graftline.train.loop import Recipe, augment_batch, fit, warmup_cosine  # noqa: E402

MEAN, STD = [0.2], [0.3]


def data(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def bare(x, y, steps: int, batch: int) -> float:
    torch.manual_seed(0)
    model = weights.create("resnet10t", 10, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(10, steps))
    g = torch.Generator().manual_seed(0)
    model.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        xb = augment_batch(x[idx], g)
        loss = F.cross_entropy(model(normalize(xb, MEAN, STD)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss.item()
    return steps * batch / (time.perf_counter() - t0)


def ours(x, y, xv, yv, steps: int, batch: int, epoch: int) -> float:
    torch.manual_seed(0)
    model = weights.create("resnet10t", 10, 1)
    with tempfile.TemporaryDirectory() as d:
        r = fit(model, x, y, Recipe(steps=steps, batch_size=batch, lr=1e-3, warmup_steps=10, eval_every=epoch,
                                    device="cpu"),
                MEAN, STD, xv, yv, checkpoint=Path(d) / "ckpt.pt", fingerprint="bench")
    return steps * batch / r.seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epoch", type=int, default=50, help="steps per epoch (evaluation + checkpoint)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = data(2048)
    xv, yv = data(100, seed=1)
    b, o = [], []
    bare(x, y, 5, a.batch)  # warm-up (allocator, kernels)
    for i in range(a.repeats):
        b.append(bare(x, y, a.steps, a.batch))
        o.append(ours(x, y, xv, yv, a.steps, a.batch, a.epoch))
        print(f"run {i + 1}: bare {b[-1]:7.1f} img/s   ours {o[-1]:7.1f} img/s", flush=True)
    ratio = statistics.median(o) / statistics.median(b)
    out = {"model": "resnet10t", "image_size": 32, "batch": a.batch, "threads": a.threads, "steps": a.steps,
           "steps_per_epoch": a.epoch, "bare_img_s": b, "ours_img_s": o, "ratio_median": ratio}
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/training_loop.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"resnet10t 32x32, batch {a.batch}, {a.threads} threads, {a.steps} steps, epoch = {a.epoch} steps "
          f"(validation + checkpoint each): bare {statistics.median(b):.1f} img/s, ours {statistics.median(o):.1f} img/s")
    print(f"our loop / bare loop throughput: {ratio:.3f}x")


if __name__ == "__main__":
    main()
