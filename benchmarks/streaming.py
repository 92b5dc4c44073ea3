"""The streaming dataset: memory flat in the data set's size, and no slower than the old in-memory path on the demo.

1. **Memory.** The training loop (``fit``, the finetune stage's loop) over ``ImageDataset``s of 2,000 and 20,000
   synthetic 224x224 RGB JPEG files (made once, cached in /tmp), same model, batch and steps; each size runs in a
   fresh process and a sampler thread records the peak resident memory of that process plus its DataLoader
   workers. The old path decoded a split into one tensor: 20,000 x 3 x 224 x 224 float32 = 12 GB.
2. **Throughput on the demo.** resnet10t at 32x32 on the demo's 30 prepared training images, the finetune recipe:
   the new path (``ImageDataset``, decoded once and kept because the split is small) against the old one (the split
   preloaded into one tensor, ``ArrayData``), alternating runs, images per second of each.

Usage: python benchmarks/streaming.py [--sizes 2000,20000] [--steps 20] [--repeats 3]. Needs data/prepared (run
`dvc repro validate` first). Writes benchmarks/results/streaming.json; prints the throughput ratio last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = Path("/tmp/graftline-streaming-images")


def _make(args: tuple[int, int]) -> None:
    from PIL import Image

    start, stop = args
    rng = np.random.default_rng(start)
    for i in range(start, stop):
        path = IMAGES / f"{i % 10}" / f"{i:06d}.jpg"
        if not path.exists():
            a = (rng.random((224, 224, 3)) * 64 + (i % 10) * 19).astype(np.uint8)
            Image.fromarray(a, "RGB").save(path, quality=85)


def make_images(n: int) -> list[str]:
    for c in range(10):
        (IMAGES / str(c)).mkdir(parents=True, exist_ok=True)
    chunks = [(s, min(n, s + 500)) for s in range(0, n, 500)]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_make, chunks))
    return [f"{i % 10}/{i:06d}.jpg" for i in range(n)]


def _tree_rss(pid: int) -> int:
    import psutil

    p = psutil.Process(pid)
    total = p.memory_info().rss
    for c in p.children(recursive=True):
        try:
            total += c.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def child_memory(n: int, steps: int) -> dict:
    """In a fresh process: fit over n streamed images; peak RSS of the process and its workers."""
    import torch

    from graftline.data.dataset import ImageDataset
    from graftline.models import weights
    from graftline.train.loop import FitData, fit
    from graftline.train.recipe import Recipe

    torch.set_num_threads(1)
    paths = [f"{i % 10}/{i:06d}.jpg" for i in range(n)]
    y = torch.tensor([i % 10 for i in range(n)])
    data = ImageDataset(IMAGES, paths, y, 3, (224, 224))
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(os.getpid()))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    torch.manual_seed(0)
    model = weights.create("test_resnet", 10, 3)
    t0 = time.perf_counter()
    fit(model, FitData(data, None, [0.5] * 3, [0.25] * 3),
        Recipe(steps=steps, batch_size=32, lr=1e-3, eval_every=steps, device="cpu"))
    seconds = time.perf_counter() - t0
    stop.set()
    t.join()
    return {"images": n, "peak_rss_mb": peak[0] / 2**20, "cached_in_memory": data.cached, "workers": data.workers,
            "seconds": seconds, "steps": steps, "in_memory_tensor_gb": n * 3 * 224 * 224 * 4 / 1e9}


def demo_throughput(steps: int, repeats: int) -> dict:
    import torch

    from graftline.data.dataset import ArrayData, load_split
    from graftline.models import weights
    from graftline.train.loop import FitData, fit
    from graftline.train.recipe import Recipe

    torch.set_num_threads(1)
    prepared = ROOT / "data" / "prepared"
    if not (prepared / "manifest.csv").is_file():
        raise SystemExit("benchmarks/streaming.py: data/prepared is missing; run `dvc repro validate` first")
    train = load_split(prepared, ROOT, "train", 1, (32, 32))
    preloaded = ArrayData(train.tensors(), train.y)  # the old path: the whole split in one tensor
    recipe = Recipe(steps=steps, batch_size=32, lr=3e-4, warmup_steps=5, eval_every=25, device="cpu")
    rates: dict[str, list[float]] = {"streaming": [], "in_memory": []}
    for _ in range(repeats):
        for name, data in (("in_memory", preloaded), ("streaming", train.data)):
            torch.manual_seed(0)
            model = weights.create("resnet10t", 10, 1)
            t0 = time.process_time()
            fit(model, FitData(data, None, [0.2], [0.3]), recipe)
            rates[name].append(steps * 32 / (time.process_time() - t0))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"images_per_cpu_second": rates, "median": med, "ratio": med["streaming"] / med["in_memory"],
            "steps": steps, "train_images": len(train), "cached_in_memory": train.data.cached}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,20000")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--demo-steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    if a.child:
        print(json.dumps(child_memory(a.child, a.steps)))
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    t0 = time.perf_counter()
    make_images(max(sizes))
    print(f"images ready in {IMAGES} ({time.perf_counter() - t0:.0f} s)", flush=True)
    memory = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--steps", str(a.steps)],
                             capture_output=True, text=True, check=True)
        memory.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{n:>7,} images: peak RSS {memory[-1]['peak_rss_mb']:.0f} MB (process + workers), "
              f"{memory[-1]['workers']} workers, {memory[-1]['seconds']:.1f} s", flush=True)
    mem_ratio = memory[-1]["peak_rss_mb"] / memory[0]["peak_rss_mb"]
    demo = demo_throughput(a.demo_steps, a.repeats)
    result = {"memory": memory, "memory_ratio": mem_ratio, "demo": demo, "load_average": os.getloadavg()}
    out = ROOT / "benchmarks" / "results" / "streaming.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"peak memory {sizes[-1]:,} vs {sizes[0]:,} images: {mem_ratio:.2f}x (goal <= 1.2x)")
    print(f"demo throughput, streaming vs in-memory: {demo['median']['streaming']:.0f} vs "
          f"{demo['median']['in_memory']:.0f} images per CPU-second")
    print(f"throughput ratio streaming / in-memory: {demo['ratio']:.3f}x (goal >= 0.9x)")


if __name__ == "__main__":
    main()
