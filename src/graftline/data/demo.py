"""The embedded default: a sim-to-real transfer that runs offline in minutes.

Target: scikit-learn's bundled real handwritten digits (1,797 images), written as an ordinary image folder
``<root>/<class>/<n>.png`` — from ``prepare`` on nothing knows it is a demo.

Sources (for the zoo): digits and capital letters rendered with the fonts matplotlib ships, made the way the
target was made. The target
is UCI optdigits: a 32x32 binary bitmap of the glyph, size-normalised, then on-pixels counted in non-overlapping 4x4
blocks (values 0-16, an 8x8 image). Rendered naively (small anti-aliased glyphs) a source model reads the real digits
at ~0.2 and transfer loses to scratch; rendered this way it reads them zero-shot at ~0.7 and transfer wins. Variety
comes from font, stroke width, shear, rotation and an elastic distortion. A random-label control (same images,
labels shuffled) is the source that should transfer badly: the negative-transfer gate must catch it. Letters are a
second, farther domain (same strokes and encoding, other glyphs): models pretrained on them transfer, but less.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Fonts shipped with matplotlib whose digits are lining (cmmi10's are old-style; cmsy/cmex have no digits).
FONT_FILES = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf",
]
CANVAS = 96
FONT_SIZE = 56
DIGITS = [str(d) for d in range(10)]
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
ALPHABETS = {"digits": (DIGITS, 0), "letters": (LETTERS, 1000)}  # glyphs, offset of the per-class RNG stream


def _fonts() -> list[ImageFont.FreeTypeFont]:
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = [ImageFont.truetype(str(ttf / f), FONT_SIZE) for f in FONT_FILES if (ttf / f).exists()]
    if not fonts:
        raise RuntimeError(f"no fonts found under {ttf}; matplotlib's bundled fonts are required for the demo")
    return fonts


def _elastic(img: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    """Simard et al. (2003) elastic distortion: a smoothed random displacement field."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    h, w = img.shape
    dx = gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma) * alpha
    dy = gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma) * alpha
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return map_coordinates(img, [yy + dy, xx + dx], order=1, mode="constant")


def optdigits_encode(binary: np.ndarray) -> np.ndarray:
    """Crop a binary glyph to its bounding box, scale it into a 32x32 bitmap, count on-pixels in 4x4 blocks.

    Returns an 8x8 uint8 array with values 0-16, the representation of scikit-learn's digits.
    """
    ys, xs = np.nonzero(binary)
    if len(ys) == 0:
        return np.zeros((8, 8), np.uint8)
    crop = binary[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    scale = 32.0 / max(h, w)  # preserve the aspect ratio, fill the longer side
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    glyph = Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.Resampling.BILINEAR)
    bitmap = np.zeros((32, 32), np.uint8)
    top, left = (32 - nh) // 2, (32 - nw) // 2
    bitmap[top: top + nh, left: left + nw] = np.asarray(glyph) > 127
    return bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.uint8)


def render_glyph(text: str, font: ImageFont.FreeTypeFont, rng: np.random.Generator) -> np.ndarray:
    """One rendered, distorted glyph in optdigits form (8x8, 0-16)."""
    img = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(img)
    stroke = int(rng.integers(0, 3))
    draw.text((CANVAS / 2, CANVAS / 2), text, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
    # Shear and rotation as one affine map about the centre.
    angle = np.deg2rad(rng.uniform(-12, 12))
    shear = rng.uniform(-0.35, 0.35)
    sx, sy = rng.uniform(0.8, 1.2), 1.0
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[c, -s], [s, c]]) @ np.array([[1, shear], [0, 1]]) @ np.diag([sx, sy])
    inv = np.linalg.inv(m)
    cx = cy = CANVAS / 2
    off = np.array([cx, cy]) - inv @ np.array([cx, cy])
    img = img.transform(img.size, Image.Transform.AFFINE, (*inv[0], off[0], *inv[1], off[1]), Image.Resampling.BILINEAR)
    arr = np.asarray(img, np.float32) / 255.0
    arr = _elastic(arr, rng, alpha=rng.uniform(20, 40), sigma=rng.uniform(5, 8))
    return optdigits_encode(arr > 0.5)


def _render_class(args: tuple[str, int, int, int]) -> np.ndarray:
    alphabet, label, per_class, seed = args
    glyphs, stream = ALPHABETS[alphabet]
    # One RNG stream per (alphabet, class): the same images whatever the number of processes.
    rng = np.random.default_rng([seed, stream + label])
    fonts = _fonts()
    return np.stack([render_glyph(glyphs[label], fonts[int(rng.integers(len(fonts)))], rng) for _ in range(per_class)])


def render(alphabet: str, per_class: int, seed: int, processes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` rendered images of each glyph of ``alphabet`` ('digits' | 'letters'):
    (x uint8 [N, 8, 8] in 0-16, y int64 [N])."""
    glyphs, _ = ALPHABETS[alphabet]
    jobs = [(alphabet, label, per_class, seed) for label in range(len(glyphs))]
    processes = processes or min(len(jobs), os.cpu_count() or 1)
    import multiprocessing as mp

    # fork (Linux): the workers only need numpy/PIL/scipy, and unlike spawn it does not re-import the caller's
    # __main__ (a script calling this without an `if __name__ == "__main__"` guard would otherwise crash).
    if processes > 1 and per_class >= 100 and "fork" in mp.get_all_start_methods():
        with mp.get_context("fork").Pool(processes) as pool:
            parts = pool.map(_render_class, jobs)
    else:
        parts = [_render_class(j) for j in jobs]
    y = np.repeat(np.arange(len(glyphs)), per_class).astype(np.int64)
    return np.concatenate(parts), y


def render_digits(per_class: int, seed: int, processes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` rendered images for each digit: (x uint8 [N, 8, 8] in 0-16, y int64 [N])."""
    return render("digits", per_class, seed, processes)


def _to_png_scale(x: np.ndarray) -> np.ndarray:
    """0-16 block counts -> 0-255 grey levels (16 -> 255), the way an image folder would store them."""
    return np.round(x.astype(np.float32) * (255.0 / 16.0)).astype(np.uint8)


def write_target_folder(root: Path) -> int:
    """scikit-learn's real digits as ``root/<digit>/<index>.png`` (8x8 greyscale). Returns the image count."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = _to_png_scale(digits.images.astype(np.uint8))
    for i, (img, label) in enumerate(zip(images, digits.target)):
        d = root / str(label)
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(d / f"{i:04d}.png", optimize=False)
    return len(images)


def _save_source(path: Path, x: np.ndarray, y: np.ndarray, classes: list[str], eval_fraction: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_eval = int(round(len(y) * eval_fraction))
    split = np.zeros(len(y), dtype="<U5")
    split[order[:n_eval]] = "eval"
    split[order[n_eval:]] = "train"
    np.savez_compressed(path, x=_to_png_scale(x), y=y, split=split, classes=np.asarray(classes))


def generate(out: Path, per_class: int = 1600, eval_fraction: float = 0.15, seed: int = 0,
             letters_per_class: int = 400) -> dict:
    """Write the embedded default under ``out``, atomically: ``digits/`` (target) and ``sources/*.npz``
    (digits, letters, random_labels).

    Each source file holds x (uint8 [N, 8, 8], grey levels), y, split ('train' | 'eval': the held-out source eval
    set used to measure forgetting) and classes.
    """
    from graftline.atomic import atomic_dir

    with atomic_dir(Path(out)) as tmp:
        (tmp / "sources").mkdir()
        n_target = write_target_folder(tmp / "digits")
        x, y = render_digits(per_class, seed)
        _save_source(tmp / "sources" / "digits.npz", x, y, DIGITS, eval_fraction, seed)
        # The control: the very same images, labels shuffled -> features that fit noise, a source that should not help.
        y_random = np.random.default_rng(seed + 1).permutation(y)
        _save_source(tmp / "sources" / "random_labels.npz", x, y_random, DIGITS, eval_fraction, seed)
        xl, yl = render("letters", letters_per_class, seed)
        _save_source(tmp / "sources" / "letters.npz", xl, yl, LETTERS, eval_fraction, seed)
        summary = {"target_images": n_target,
                   "source_images": {"digits": len(y), "letters": len(yl), "random_labels": len(y)}}
        (tmp / "README.json").write_text(json.dumps(summary, indent=2))
    return summary
