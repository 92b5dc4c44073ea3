"""Our training loop vs a bare PyTorch loop: training throughput on the same model, batch and threads.

Why: the loop (``train.loop.fit``) does more than a bare loop — per-epoch validation, an atomic checkpoint (model +
optimizer + RNG; the data order is a function of (seed, step)) at every epoch end, early-stopping bookkeeping, hooks,
deterministic CPU kernels, batches via ``StepSampler`` and ``ArrayData.take``. This measures what that costs. Both
loops train resnet10t on 32×32 images with AdamW, warmup + cosine and the same augmentation; the bare loop has no
evaluation and no checkpoints. Runs alternate (bare, ours, bare, ours, ...) so that noise on a shared machine hits
both. Throughput is measured on the process's CPU time (``time.process_time``: user + system, checkpoint writes
included) as well as wall time: on a shared machine other jobs change wall time by 2-4x from run to run, CPU time much
less; the ratio of medians is on CPU time, the wall-time ratio is printed next to it. An epoch here is 50 steps (1,600
images) — the checkpoint's cost is per epoch, so the ratio depends on the epoch length.

Usage: python benchmarks/training_loop.py [--steps 150] [--threads 2] [--repeats 3]. Prints the ratio last.
"""

from __future__ import annotations

import argparse
import json
import math
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
from graftline.data.augment import augment_batch  # noqa: E402
from graftline.data.dataset import ArrayData  # noqa: E402
from graftline.train.loop import FitData, fit  # noqa: E402
from graftline.train.recipe import Hooks, Recipe  # noqa: E402

MEAN, STD = [0.2], [0.3]


def data(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def warmup_cosine(warmup: int, steps: int):
    """The loop's schedule (timm's warmup + cosine, per step) as a LambdaLR factor."""
    def f(step: int) -> float:
        if step < warmup - 1:
            return (step + 1) / warmup
        t = (step - max(warmup - 1, 0)) / max(1, steps - max(warmup - 1, 0))
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return f


def bare(x, y, steps: int, batch: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = weights.create("resnet10t", 10, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(10, steps))
    g = torch.Generator().manual_seed(0)
    model.train()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        xb = augment_batch(x[idx], g)
        loss = F.cross_entropy(model(normalize(xb, MEAN, STD)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss.item()
    return steps * batch / (time.perf_counter() - t0), steps * batch / (time.process_time() - c0)


def ours(x, y, xv, yv, steps: int, batch: int, epoch: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = weights.create("resnet10t", 10, 1)
    with tempfile.TemporaryDirectory() as d:
        t0, c0 = time.perf_counter(), time.process_time()  # includes the optimizer/scheduler set-up, as in bare()
        fit(model, FitData(ArrayData(x, y), ArrayData(xv, yv), MEAN, STD),
            Recipe(steps=steps, batch_size=batch, lr=1e-3, warmup_steps=10, eval_every=epoch, device="cpu"),
            Hooks(checkpoint=Path(d) / "ckpt.pt", fingerprint="bench"))
        return steps * batch / (time.perf_counter() - t0), steps * batch / (time.process_time() - c0)


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
        print(f"run {i + 1}: bare {b[-1][1]:7.1f} img/CPU-s ({b[-1][0]:6.1f} img/s wall)   "
              f"ours {o[-1][1]:7.1f} img/CPU-s ({o[-1][0]:6.1f} img/s wall)", flush=True)
    med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
    ratio, wall_ratio = med(o, 1) / med(b, 1), med(o, 0) / med(b, 0)
    out = {"model": "resnet10t", "image_size": 32, "batch": a.batch, "threads": a.threads, "steps": a.steps,
           "steps_per_epoch": a.epoch, "bare_img_per_cpu_s": [r[1] for r in b], "ours_img_per_cpu_s": [r[1] for r in o],
           "bare_img_per_wall_s": [r[0] for r in b], "ours_img_per_wall_s": [r[0] for r in o],
           "ratio_median_cpu_time": ratio, "ratio_median_wall_time": wall_ratio}
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/training_loop.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"resnet10t 32x32, batch {a.batch}, {a.threads} threads, {a.steps} steps, epoch = {a.epoch} steps "
          f"(validation + checkpoint each): bare {med(b, 1):.1f}, ours {med(o, 1):.1f} img per CPU-second; "
          f"wall-time ratio {wall_ratio:.3f}x")
    print(f"our loop / bare loop throughput (CPU time): {ratio:.3f}x")


if __name__ == "__main__":
    main()
