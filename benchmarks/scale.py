"""prepare + validate at scale: throughput and peak memory flat from 10,000 to 100,000 images; near duplicates
without N^2 work.

Why: a team's own data set is 10^4-10^6 images of mixed sizes and formats, not 3,000 digits. prepare and validate
must cost the same per image at 100k as at 10k, hold a row per image and never an image, and the near-duplicate
search (multi-index hashing, graftline.data.dupes) must not grow as N^2.

What it does, side by side in one run (compare only numbers from one run; the machine is shared):
1. generates max(N) images once, cached under /tmp/graftline-scale (numpy noise + shapes, 64-512 px, JPEG and PNG,
   RGB and greyscale, 10 class folders; a process pool), and a CSV manifest of the first n images for each n;
2. for each n, in a fresh process with an empty facts cache: `prepare` (every image hashed and decoded) then
   `validate` (the GX rules), both with the settings `graftline init` writes for photos (every label kept,
   near-duplicate distance 4): seconds, images/s, peak RSS of the stage process and of the largest worker;
3. near_pairs on the n perceptual hashes from that run (multi-index) and, at the smallest n, the all-pairs reference.

Prints the 10k-vs-largest ratios and writes benchmarks/results/scale.json. `--sizes 10000,100000`, `--workers 2`.
Run it niced: `nice -n 10 python benchmarks/scale.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
CACHE = Path(os.environ.get("GRAFTLINE_SCALE_CACHE", "/tmp/graftline-scale"))
CLASSES = 10


def _path(i: int) -> str:
    rng = np.random.default_rng(i)
    ext = "png" if rng.random() < 1 / 3 else "jpg"
    return f"{i % CLASSES}/{i:06d}.{ext}"


def _write(args: tuple[str, int, int]) -> None:
    from PIL import Image, ImageDraw

    folder, start, stop = args
    for i in range(start, stop):
        out = Path(folder) / _path(i)
        if out.exists():
            continue
        rng = np.random.default_rng(i)
        rng.random()  # the format draw in _path
        w, h = (int(v) for v in rng.integers(64, 513, 2))
        grey = rng.random() < 0.3
        small = rng.integers(0, 256, (6, 6) if grey else (6, 6, 3), dtype=np.uint8)
        im = Image.fromarray(small, "L" if grey else "RGB").resize((w, h), Image.BILINEAR)
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            box = (x0, y0, x0 + int(rng.integers(8, w // 2 + 9)), y0 + int(rng.integers(8, h // 2 + 9)))
            fill = int(rng.integers(0, 256)) if grey else tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        if out.suffix == ".png":
            im.save(out, compress_level=1)
        else:
            im.save(out, quality=85)


def make_images(n: int, workers: int) -> Path:
    folder = CACHE / "images"
    for c in range(CLASSES):
        (folder / str(c)).mkdir(parents=True, exist_ok=True)
    step = 500
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, [(str(folder), a, min(a + step, n)) for a in range(0, n, step)]))
    return folder


def manifest(folder: Path, n: int) -> Path:
    path = folder / f"first_{n}.csv"
    if not path.exists():
        lines = ["path,label"] + [f"{_path(i)},{i % CLASSES}" for i in range(n)]
        path.write_text("\n".join(lines) + "\n")
    return path


def child(n: int, workers: int) -> None:
    """One n in this (fresh) process: prepare + validate, then the duplicate search; JSON on stdout."""
    import shutil

    import pandas as pd

    from graftline.config import DataParams, ValidateParams
    from graftline.data.dupes import near_pairs, near_pairs_brute
    from graftline.data.prepare import run_prepare
    from graftline.validate.suite import run_validate

    proj = CACHE / f"proj-{n}"
    shutil.rmtree(proj, ignore_errors=True)
    proj.mkdir(parents=True)
    csv = manifest(CACHE / "images", n)
    dp = DataParams(source="csv", root=str(csv), train_per_class=None, val_per_class=None,
                    near_duplicate_distance=4, workers=workers)
    t0 = time.perf_counter()
    run_prepare(dp, proj, proj / "data/staged", progress=False)
    t1 = time.perf_counter()
    rss_prepare = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vp = ValidateParams(near_duplicate_distance=4, max_width=8192)
    report = run_validate(vp, proj / "data/staged", proj, proj / "reports/validation.json", proj / "data/prepared")
    t2 = time.perf_counter()
    # The stages' peak, taken before this benchmark reads facts.csv back for its own duplicate-search timing.
    rss_stages = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hashes = pd.read_csv(proj / "data/staged/facts.csv", usecols=["phash"], dtype={"phash": str},
                         keep_default_na=False)["phash"]
    t3 = time.perf_counter()
    pairs = near_pairs(hashes, 4)
    dupes_s = time.perf_counter() - t3
    out = {"n": n, "prepare_s": t1 - t0, "validate_s": t2 - t1, "images_per_s": n / (t2 - t0),
           "passed": report.passed, "errors": report.errors, "near_pairs": len(pairs), "dupes_s": dupes_s,
           "peak_rss_mb": rss_stages,
           "peak_rss_prepare_mb": rss_prepare,
           "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    if n <= 20000:
        t4 = time.perf_counter()
        assert near_pairs_brute(hashes, 4) == pairs
        out["dupes_brute_s"] = time.perf_counter() - t4
    shutil.rmtree(proj, ignore_errors=True)
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--child", type=int, default=0)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.workers)
        return
    sizes = sorted(int(s) for s in a.sizes.split(","))
    t = time.perf_counter()
    make_images(sizes[-1], a.workers)
    print(f"images: {sizes[-1]} ready under {CACHE / 'images'} ({time.perf_counter() - t:.0f} s)", flush=True)
    runs = []
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--workers", str(a.workers)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        if proc.returncode:
            sys.exit(f"n={n} failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
    lo, hi = runs[0], runs[-1]
    ratios = {"sizes": [lo["n"], hi["n"]],
              "throughput_ratio": hi["images_per_s"] / lo["images_per_s"],
              "prepare_throughput_ratio": (hi["n"] / hi["prepare_s"]) / (lo["n"] / lo["prepare_s"]),
              "peak_rss_ratio": hi["peak_rss_mb"] / lo["peak_rss_mb"],
              "prepare_peak_rss_ratio": hi["peak_rss_prepare_mb"] / lo["peak_rss_prepare_mb"],
              "worker_peak_rss_ratio": hi["worker_peak_rss_mb"] / lo["worker_peak_rss_mb"],
              "dupes_time_ratio": hi["dupes_s"] / lo["dupes_s"], "n_ratio": hi["n"] / lo["n"]}
    result = {"runs": runs, "ratios": ratios, "load": os.getloadavg(), "cpus": os.cpu_count()}
    out = ROOT / "benchmarks/results/scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{lo['n']} -> {hi['n']} images ({ratios['n_ratio']:.0f}x): throughput ratio "
          f"{ratios['throughput_ratio']:.2f} (images/s {lo['images_per_s']:.0f} -> {hi['images_per_s']:.0f}; prepare "
          f"alone {ratios['prepare_throughput_ratio']:.2f}), "
          f"peak RSS ratio {ratios['peak_rss_ratio']:.2f} ({lo['peak_rss_mb']:.0f} -> {hi['peak_rss_mb']:.0f} MB; "
          f"prepare alone {ratios['prepare_peak_rss_ratio']:.2f}: {lo['peak_rss_prepare_mb']:.0f} -> "
          f"{hi['peak_rss_prepare_mb']:.0f} MB), "
          f"worker peak RSS ratio {ratios['worker_peak_rss_ratio']:.2f}, near-duplicate search time ratio "
          f"{ratios['dupes_time_ratio']:.1f} for {ratios['n_ratio']:.0f}x the images (all pairs: "
          f"{ratios['n_ratio'] ** 2:.0f}x); load {' '.join(f'{v:.1f}' for v in result['load'])} "
          f"on {result['cpus']} CPUs")


if __name__ == "__main__":
    main()
