"""Data validation at scale: facts throughput, the cache on a re-run, GX's share, and memory that stays flat.

Why: validation runs before every training run, on every data change. It must cost seconds, not minutes, and a
re-run after adding a few images must only probe those images (facts are cached by sha256). Memory must not grow
with the dataset: facts stream from worker processes and no decoded image is kept.

What it does, side by side in one run (the machine is noisy; compare only numbers from the same run):
1. writes N small PNGs (10 classes, random low-frequency 32x32 images; a process pool);
2. `prepare` on them with an empty facts cache (every image decoded, in parallel), then `validate` (GX): the
   clean set must pass with no warning, and GX's share of the two stages' time is reported;
3. adds 1 % more images and runs `prepare` again: only the new images are decoded (the cache ratio);
4. in fresh processes, the facts step alone (no cache) on 5,000 and N images: throughput and peak memory (parent
   and largest worker).

Writes benchmarks/results/validation.json; prints the cached-re-run speed-up last. `--images N` (default 20000).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CLASSES = 10


def _write(args: tuple[str, int, int]) -> None:
    from PIL import Image

    folder, start, stop = args
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        small = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(small, "L").resize((32, 32), Image.BICUBIC).save(
            Path(folder) / str(i % CLASSES) / f"{i:06d}.png", compress_level=1)


def make_images(folder: Path, start: int, stop: int, workers: int) -> None:
    for c in range(CLASSES):
        (folder / str(c)).mkdir(parents=True, exist_ok=True)
    step = max(1, (stop - start) // (workers * 8))
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, [(str(folder), a, min(a + step, stop)) for a in range(start, stop, step)]))


def peak_memory(images: Path, n: int) -> dict:
    """The facts step alone on the first n images, in a fresh process: peak RSS of the parent and of the largest
    worker (ru_maxrss of the children: an upper bound, it includes what a forked worker shares with the parent)."""
    code = f"""
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT / 'src')!r})
from graftline.data.facts import compute_facts
paths = sorted(p.relative_to({str(images)!r}).as_posix() for p in Path({str(images)!r}).rglob('*.png'))[:{n}]
import time
t = time.perf_counter()
df, stats = compute_facts(Path({str(images)!r}), paths, max_pixels=64_000_000, color_mode='auto', cache_path=None,
                          workers=0, progress=False)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would report the benchmark's own peak
hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))
print(json.dumps({{"images": len(df), "seconds": time.perf_counter() - t, "parent_peak_mb": hwm / 1024,
                  "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20_000)
    args = ap.parse_args()
    n = args.images
    extra = max(1, n // 100)
    workers = os.cpu_count() or 1

    from graftline.config import DataParams, ValidateParams
    from graftline.data.prepare import run_prepare

    tmp = Path(tempfile.mkdtemp(prefix="graftline-bench-"))
    try:
        images = tmp / "images"
        t = time.perf_counter()
        make_images(images, 0, n, workers)
        gen_s = time.perf_counter() - t
        print(f"generated {n} images in {gen_s:.1f} s", flush=True)

        dp = DataParams(source="folder", root="images", train_per_class=None, val_per_class=None)
        t = time.perf_counter()
        first = run_prepare(dp, tmp, tmp / "data/staged", progress=False)
        first_s = time.perf_counter() - t
        print(f"prepare (cold cache): {first_s:.1f} s, {first.facts['decoded']} decoded", flush=True)

        t = time.perf_counter()
        import great_expectations  # noqa: F401 - import time is part of the validate stage's cost

        gx_import_s = time.perf_counter() - t
        from graftline.validate.suite import run_validate

        t = time.perf_counter()
        report = run_validate(ValidateParams(), tmp / "data/staged", tmp, tmp / "reports/validation.json",
                              publish_to=tmp / "data/prepared")
        validate_s = time.perf_counter() - t + gx_import_s
        assert report.passed and not report.warnings, "clean generated data must pass with no warning"
        gx_s = report.seconds["gx"] + gx_import_s
        print(f"validate: {validate_s:.1f} s (GX {gx_s:.1f} s incl. import {gx_import_s:.1f} s); "
              f"{len(report.rules)} rules passed, 0 warnings", flush=True)

        make_images(images, n, n + extra, workers)
        # The facts step alone on N + 1 %, against a copy of the cache as the first run left it.
        from graftline.data.facts import compute_facts

        shutil.copy(tmp / "data/cache/facts.sqlite", tmp / "cache-copy.sqlite")
        all_paths = sorted(p.relative_to(images).as_posix() for p in images.rglob("*.png"))
        t = time.perf_counter()
        _, fstats = compute_facts(images, all_paths, max_pixels=dp.max_pixels, color_mode=dp.color_mode,
                                  cache_path=tmp / "cache-copy.sqlite", workers=0, progress=False)
        facts_cached_s = time.perf_counter() - t
        assert fstats["decoded"] == extra, fstats
        t = time.perf_counter()
        again = run_prepare(dp, tmp, tmp / "data/staged", progress=False)
        again_s = time.perf_counter() - t
        assert again.facts == {"decoded": extra, "cached": n}, again.facts
        print(f"prepare after adding {extra} images: {again_s:.1f} s, {again.facts['decoded']} decoded, "
              f"{again.facts['cached']} cached", flush=True)

        mem = {str(k): peak_memory(images, k) for k in (5_000, n)}
        for k, m in mem.items():
            print(f"facts on {m['images']} images (no cache): {m['images'] / m['seconds']:.0f} images/s, parent peak "
                  f"{m['parent_peak_mb']:.0f} MB, worker peak {m['worker_peak_mb']:.0f} MB", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    stage_s = first_s + validate_s
    out = {"images": n, "added": extra, "workers": workers, "generate_seconds": gen_s,
           "prepare_cold_seconds": first_s, "facts_images_per_second_cold": n / first_s,
           "validate_seconds": validate_s, "gx_seconds": gx_s, "gx_import_seconds": gx_import_s,
           "gx_share_of_prepare_plus_validate": gx_s / stage_s, "gx_share_of_validate": gx_s / validate_s,
           "prepare_after_adding_seconds": again_s, "facts_step_cached_seconds": facts_cached_s,
           "facts_step_cached_speedup": mem[str(n)]["seconds"] / facts_cached_s, "cached_rerun_speedup": first_s / again_s,
           "facts_step": mem, "facts_images_per_second": mem[str(n)]["images"] / mem[str(n)]["seconds"],
           "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    (ROOT / "benchmarks/results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks/results/validation.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"facts throughput ({workers} workers): {out['facts_images_per_second']:.0f} images/s for the facts step, "
          f"{n / first_s:.0f} images/s for the whole prepare stage (cold cache)")
    print(f"GX share of prepare+validate: {100 * gx_s / stage_s:.0f} % (of validate alone: "
          f"{100 * gx_s / validate_s:.0f} %)")
    print(f"peak memory, facts step: {mem['5000']['parent_peak_mb']:.0f} MB at 5,000 vs "
          f"{mem[str(n)]['parent_peak_mb']:.0f} MB at {n:,} images (parent); workers "
          f"{mem['5000']['worker_peak_mb']:.0f} vs {mem[str(n)]['worker_peak_mb']:.0f} MB")
    print(f"cached re-run after adding 1 % ({extra} images): facts step {mem[str(n)]['seconds']:.1f} s -> "
          f"{facts_cached_s:.1f} s = {mem[str(n)]['seconds'] / facts_cached_s:.1f}x; whole prepare stage "
          f"{first_s:.1f} s -> {again_s:.1f} s = {first_s / again_s:.1f}x faster")


if __name__ == "__main__":
    main()
