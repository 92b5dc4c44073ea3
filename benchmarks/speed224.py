"""graftline's paths against bare timm at ImageNet sizes (224-260 px), on photos of ~4000 px.

Three comparisons, each printed side by side as images/s and a ratio (graftline / bare; >= 0.9 is the goal):

1. **Feature extraction, compute only** (images already decoded): ``select.features.extract`` (graftline's path: its
   own batch size and the process's threads, normalisation on the fly, features and source logits) against a bare
   ``torch.inference_mode()`` ``model(x)`` on pre-normalised tensors at the best of batch sizes x thread counts x
   channels_last (searched here).
2. **Feature extraction from files**: 4000-px JPEGs decoded, resized (the card's antialiased bicubic, crop 0.875) and
   fed by ``ImageDataset`` through its persistent ``DataLoader`` workers, against the same model fed by a bare
   ``DataLoader`` over timm's own ``create_transform``, same workers. Also: the share of wall time graftline's model
   waits for the next batch (decoding), per pass, first (workers start) and second (they persist).
3. **A fine-tuning step**: ``train.loop.fit`` (no evaluation, no checkpoint; augment none, then photo for its cost)
   against a bare AdamW + cross-entropy loop at the best thread count x channels_last, same batch.

Runs alternate (bare, graftline, bare, graftline) so that load on the shared machine hits both; the medians of the
repeats are compared. The model is ``tf_efficientnet_lite0`` (random weights: timing only) at 224 and, for (1),
``tf_efficientnet_lite2`` at 260. Photos are generated once (sklearn's sample photos enlarged to 4000x2670 with
texture, JPEG q90) under ``.cache/bench/photos4000``.

Usage: nice -n 10 python benchmarks/speed224.py [--photos 24] [--repeats 2] [--steps 4]. Writes
benchmarks/results/speed224.json; prints the worst ratio last.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from graftline.data.dataset import ArrayData, ImageDataset  # noqa: E402
from graftline.data.images import normalize  # noqa: E402
from graftline.eval.logits import batches  # noqa: E402
from graftline.models.card import Preprocess  # noqa: E402
from graftline.select.features import extract  # noqa: E402
from graftline.train.loop import FitData, fit  # noqa: E402
from graftline.train.recipe import Recipe  # noqa: E402

CORES = os.cpu_count() or 1
PHOTOS = ROOT / ".cache/bench/photos4000"


def make_photos(n: int) -> list[Path]:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    PHOTOS.mkdir(parents=True, exist_ok=True)
    base = [load_sample_image(f) for f in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        p = PHOTOS / f"{i:03d}.jpg"
        if not p.is_file():
            im = Image.fromarray(base[i % 2]).resize((4000, 2670), Image.BICUBIC)
            a = np.asarray(im, dtype=np.int16) + rng.integers(-12, 13, (2670, 4000, 1), dtype=np.int16)
            a = np.clip(a, 0, 255).astype(np.uint8)
            Image.fromarray(a[:, ::-1] if i % 3 == 0 else a).save(p, quality=90)
        out.append(p)
    return out


def model_and_card(name: str):
    import timm

    m = timm.create_model(name, pretrained=False).eval()
    cfg = timm.data.resolve_model_data_config(m)
    card = Preprocess(input_size=list(cfg["input_size"]), mean=list(cfg["mean"]), std=list(cfg["std"]),
                      interpolation=cfg["interpolation"], crop_pct=cfg["crop_pct"])
    return m, card, cfg


CPU: list[float] = []  # process CPU seconds of the last timed() call (robust to other jobs at one thread)


def timed(fn) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    CPU[:] = [time.process_time() - c0]
    return time.perf_counter() - t0


def bare_forward(model, x, bs: int, threads: int, cl: bool) -> float:
    torch.set_num_threads(threads)
    m = model.to(memory_format=torch.channels_last) if cl else model.to(memory_format=torch.contiguous_format)

    def run():
        with torch.inference_mode():
            for i in range(0, len(x), bs):
                xb = x[i: i + bs]
                m(xb.contiguous(memory_format=torch.channels_last) if cl else xb)
    run_small = x[: min(bs, 8)]
    with torch.inference_mode():
        m(run_small.contiguous(memory_format=torch.channels_last) if cl else run_small)  # warm-up
    s = len(x) / timed(run)
    model.to(memory_format=torch.contiguous_format)
    return s


def compute_only(name: str, n: int, repeats: int, grid: bool) -> dict:
    model, pre, _ = model_and_card(name)
    x = torch.rand(n, *pre.input_size)
    xn = normalize(x, pre.mean, pre.std)
    configs = list(itertools.product((16, 32), sorted({1, CORES}), (False, True))) if grid else \
        [(16, t, True) for t in sorted({1, CORES})]
    bare = {c: bare_forward(model, xn, *c) for c in configs}
    best = max(bare, key=bare.get)
    ours, ref, cpu = [], [], []
    torch.set_num_threads(best[1])  # graftline takes the process's threads: the count the bare search found best
    extract(model, x[:4], pre.mean, pre.std)  # warm-up, as the bare forward has one
    for _ in range(repeats):
        ref.append(bare_forward(model, xn, *best))
        cpu.append(CPU[0])
        torch.set_num_threads(best[1])
        ours.append(n / timed(lambda: extract(model, x, pre.mean, pre.std, batch_size=256)))
        cpu[-1] = cpu[-1] / CPU[0]  # bare CPU s / graftline CPU s: the CPU-time ratio
    r = {"model": name, "size": pre.input_size[1], "images": n,
         "bare_grid": {f"batch {b}, {t} threads, channels_last {cl}": round(v, 1) for (b, t, cl), v in bare.items()},
         "bare_best": f"batch {best[0]}, {best[1]} threads, channels_last {best[2]}",
         "bare_img_s": statistics.median(ref), "graftline_img_s": statistics.median(ours),
         "ratio_cpu_time": statistics.median(cpu)}
    r["ratio"] = r["graftline_img_s"] / r["bare_img_s"]
    return r


class TimmFiles(torch.utils.data.Dataset):
    """The bare path: PIL open + timm's own eval transform, per file."""

    def __init__(self, files, cfg):
        from timm.data import create_transform

        self.files, self.tf = files, create_transform(**cfg)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.files[i]) as im:
            return self.tf(im.convert("RGB")), 0


def _consume(model, it, norm=None) -> tuple[float, float]:
    """(wall s, s the model waited for its next batch)."""
    wait, t0 = 0.0, time.perf_counter()
    with torch.inference_mode():
        while True:
            t = time.perf_counter()
            try:
                xb = next(it)
            except StopIteration:
                wait += time.perf_counter() - t
                break
            wait += time.perf_counter() - t
            xb = xb[0] if isinstance(xb, (list, tuple)) else xb
            model(normalize(xb, *norm) if norm else xb)
    return time.perf_counter() - t0, wait


def from_files(files, repeats: int, bs: int = 16) -> dict:
    model, pre, cfg = model_and_card("tf_efficientnet_lite0")
    torch.set_num_threads(CORES)
    data = ImageDataset(files[0].parent, [f.name for f in files], torch.zeros(len(files), dtype=torch.long), 3,
                        pre.resize, color_mode="rgb", cache_bytes=0)  # a set too large to keep: it streams
    bare_loader = torch.utils.data.DataLoader(TimmFiles(files, cfg), batch_size=bs, num_workers=data.workers,
                                              persistent_workers=True, prefetch_factor=4)
    rows = []
    for k in range(repeats):
        wb, waitb = _consume(model, iter(bare_loader))
        wg, waitg = _consume(model, iter(batches(data, bs)), (pre.mean, pre.std))
        rows.append({"pass": k + 1, "bare_img_s": len(files) / wb, "graftline_img_s": len(files) / wg,
                     "graftline_wait_share": waitg / wg, "bare_wait_share": waitb / wb})
    # single-image costs in this process: decode vs resize, for the docs
    from PIL import Image

    from graftline.data.images import decode
    from graftline.data.transforms import resize_crop

    t_dec = statistics.median(timed(lambda f=f: decode(f, 3, None, "rgb")) for f in files[:4])
    a = decode(files[0], 3, None, "rgb")
    t_res = statistics.median(timed(lambda: resize_crop(a, pre.resize)) for _ in range(3))

    def draft(f):
        with Image.open(f) as im:
            im.draft("RGB", (512, 342))
            im.convert("RGB").load()
    t_draft = statistics.median(timed(lambda f=f: draft(f)) for f in files[:4])
    later = rows[1:] or rows
    r = {"photos": len(files), "photo_px": "4000x2670 JPEG q90", "batch": bs, "workers": data.workers,
         "passes": rows, "decode_ms": 1e3 * t_dec, "resize_crop_ms": 1e3 * t_res, "jpeg_draft_decode_ms": 1e3 * t_draft,
         "bare_img_s": statistics.median(p["bare_img_s"] for p in later),
         "graftline_img_s": statistics.median(p["graftline_img_s"] for p in later),
         "graftline_wait_share": statistics.median(p["graftline_wait_share"] for p in later)}
    r["ratio"] = r["graftline_img_s"] / r["bare_img_s"]
    return r


def bare_train(model, x, y, steps: int, bs: int, threads: int, cl: bool, mean, std) -> float:
    torch.set_num_threads(threads)
    model.train()
    if cl:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    g = torch.Generator().manual_seed(0)

    def step():
        idx = torch.randint(0, len(x), (bs,), generator=g)
        xb = normalize(x[idx], mean, std)
        xb = xb.contiguous(memory_format=torch.channels_last) if cl else xb
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step()  # warm-up
    s = steps * bs / timed(lambda: [step() for _ in range(steps)])
    model.to(memory_format=torch.contiguous_format)
    return s


def train_step(steps: int, repeats: int, bs: int = 16) -> dict:
    import copy

    import timm

    base = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10)
    pre = model_and_card("tf_efficientnet_lite0")[1]
    x, y = torch.rand(64, 3, 224, 224), torch.randint(0, 10, (64,))
    configs = [(t, cl) for t in sorted({1, CORES}) for cl in (False, True)]
    grid = {c: bare_train(copy.deepcopy(base), x, y, steps, bs, *c, pre.mean, pre.std) for c in configs}
    best = max(grid, key=grid.get)

    def ours(augment: str, n: int = steps) -> float:
        torch.set_num_threads(best[0])  # the process's threads: the count the bare search found best
        m = copy.deepcopy(base)
        rec = Recipe(steps=n, batch_size=bs, lr=1e-3, warmup_steps=0, eval_every=n, augment=augment, device="cpu")
        out = {}
        wall = timed(lambda: out.update(r=fit(m, FitData(ArrayData(x, y), None, pre.mean, pre.std), rec)))
        return n * bs / wall
    ours("none", 1)  # warm-up, as the bare loop has one
    ref, mine, photo, cpu = [], [], [], []
    for _ in range(repeats):
        ref.append(bare_train(copy.deepcopy(base), x, y, steps, bs, *best, pre.mean, pre.std))
        cpu.append(CPU[0])
        mine.append(ours("none"))
        cpu[-1] = cpu[-1] / CPU[0]
    photo.append(ours("photo"))
    r = {"batch": bs, "steps": steps, "bare_grid": {f"{t} threads, channels_last {cl}": round(v, 2)
                                                    for (t, cl), v in grid.items()},
         "bare_best": f"{best[0]} threads, channels_last {best[1]}", "bare_img_s": statistics.median(ref),
         "graftline_img_s": statistics.median(mine), "graftline_photo_augment_img_s": photo[0],
         "ratio_cpu_time": statistics.median(cpu)}
    r["ratio"] = r["graftline_img_s"] / r["bare_img_s"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--parts", default="extract_224,extract_260,files_224,train_224",
                    help="a re-run of some parts updates those in the results file")
    a = ap.parse_args()
    t0 = time.perf_counter()
    path = ROOT / "benchmarks/results/speed224.json"
    out = json.loads(path.read_text()) if path.is_file() else {}
    out.update({"cores": CORES, "torch": torch.__version__})
    parts = a.parts.split(",")
    runs = {"extract_224": lambda: compute_only("tf_efficientnet_lite0", a.images, a.repeats, grid=True),
            "extract_260": lambda: compute_only("tf_efficientnet_lite2", a.images // 2, a.repeats, grid=False),
            "files_224": lambda: from_files(make_photos(a.photos), a.repeats + 1),
            "train_224": lambda: train_step(a.steps, a.repeats)}
    for k in parts:
        out[k] = runs[k]()
        out[k]["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(json.dumps(out[k], indent=1), flush=True)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    for k in [k for k in runs if k in out]:
        r = out[k]
        print(f"{k:12s} graftline {r['graftline_img_s']:7.1f} img/s  bare {r['bare_img_s']:7.1f} img/s  "
              f"ratio {r['ratio']:.2f}" + (f" (CPU time {r['ratio_cpu_time']:.2f})" if "ratio_cpu_time" in r else ""))
    print(f"decoding wait share (graftline, from files): {out['files_224']['graftline_wait_share']:.0%}")
    print(f"worst ratio {min(out[k]['ratio'] for k in runs if k in out):.2f}")


if __name__ == "__main__":
    main()
