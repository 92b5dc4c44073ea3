"""Decoding images: the colour policy, and model inputs.

One path for every image that reaches a model or a fact — a user's file, a rendered source array, a test image:

1. open with PIL under graftline's own pixel bound (``data.max_pixels``; PIL's process-wide guard is left as it is):
   a header that claims more pixels is refused before any pixel is decoded (decompression bombs);
2. first frame of an animated image (GIF, WebP, TIFF pages); EXIF orientation applied;
3. to 8 bits per channel: 16-bit and 32-bit integer images are scaled (not clipped: PIL's own ``convert('L')``
   saturates a 16-bit image to white), float images are clipped to [0, 1] then scaled; palette images are expanded;
   CMYK and YCbCr go to RGB; alpha is composited over white (a transparent background reads as paper, not black);
4. ``data.color_mode``: ``grayscale`` -> 'L', ``rgb`` -> 'RGB', ``auto`` -> 'L' for single-channel sources, 'RGB'
   otherwise. The model's channel count converts once more at load time ('L' for 1, 'RGB' for 3).

Model inputs are then resized and centre-cropped as the model card says (``data.transforms``: timm's eval transform,
antialiased) and scaled to [0, 1]. Normalisation (mean/std) is applied by the consumer, after augmentation, so that
padding stays the image's own border colour.
"""

from __future__ import annotations

import io
import struct
import threading
import warnings
import zlib
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from graftline.config import COLOR_MODES
from graftline.data.transforms import resize_crop, resize_spec

if TYPE_CHECKING:  # torch is imported lazily: the facts workers decode images without paying for it
    import torch
    from PIL import Image as PILImage

SINGLE_CHANNEL = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "La"}


class TooManyPixels(ValueError):
    """The header claims more pixels than data.max_pixels allows (decompression-bomb guard)."""


# Without an explicit bound (predicting on a user's file), PIL's own limit: twice its warning threshold.
DEFAULT_MAX_PIXELS = 2 * 89_478_485
_raised = threading.Lock()  # one image at a time while PIL's limit is raised above its own


@contextmanager
def open_image(src: Path | bytes, max_pixels: int | None = None) -> Iterator["PILImage.Image"]:
    """Open ``src`` (a path or the file's bytes) and refuse it before decoding if it has too many pixels.

    The bound is graftline's own (``data.max_pixels``); PIL's process-wide ``Image.MAX_IMAGE_PIXELS`` is left as the
    process has it, so other code keeps PIL's guard. Only while an image within a bound above PIL's limit is being
    decoded (a user asked for larger images) is PIL's raised, and restored when the ``with`` block ends.
    """
    from PIL import Image

    bound = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    what = "data.max_pixels" if max_pixels is not None else "the default bound"
    pil = Image.MAX_IMAGE_PIXELS
    raise_pil = pil is not None and bound > 2 * pil
    with _raised if raise_pil else nullcontext():
        if raise_pil:
            Image.MAX_IMAGE_PIXELS = bound  # PIL raises at twice this: ours, at bound, speaks first
        try:
            try:
                im = Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)
            except Image.DecompressionBombError as exc:  # above PIL's limit, hence above ours (bound <= PIL's)
                raise TooManyPixels(f"{exc} (more than {what} = {bound:,})") from None
            with im:
                if im.width * im.height > bound:
                    w, h = im.width, im.height
                    raise TooManyPixels(f"{w}x{h} = {w * h:,} pixels exceeds {what} = {bound:,}")
                if im.format == "PNG":
                    png_check_crcs(src if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes())
                yield im
        finally:
            if raise_pil:
                Image.MAX_IMAGE_PIXELS = pil


def png_check_crcs(data: bytes) -> None:
    """Raise ``OSError`` if a PNG chunk's CRC does not match its bytes. PIL checks only the zlib stream's own
    checksum, so a file whose chunk CRCs are wrong (a corrupt copy, a tampered file) would otherwise decode."""
    at = 8
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        end = at + 8 + length
        if end + 4 > len(data):
            return  # a truncated file: the decoder reports it
        if zlib.crc32(data[at + 4:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            raise OSError(f"PNG chunk {data[at + 4:at + 8].decode('latin-1')!r} at byte {at}: CRC mismatch "
                          "(the file is corrupt)")
        if data[at + 4:at + 8] == b"IEND":
            return
        at = end + 4


def _to_8bit(im: "PILImage.Image") -> "PILImage.Image":
    from PIL import Image

    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im)
        top = 65535.0 if im.mode != "I" or a.max(initial=0) <= 65535 else float(a.max())
        return Image.fromarray(np.clip(a.astype(np.float64) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        if a.max(initial=0.0) > 1.0:  # float images in 0..255 are common too
            a = a / 255.0
        return Image.fromarray((np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "L")
    return im


def normalise(im: "PILImage.Image", color_mode: str = "auto", copy: bool = True) -> "PILImage.Image":
    """Apply the colour policy (module docstring) to an opened image; returns an 8-bit 'L' or 'RGB' image, a copy
    that outlives the file unless ``copy`` is False (then it may be ``im`` itself: use it before the file closes)."""
    from PIL import Image, ImageOps

    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode {color_mode!r} is not one of {', '.join(COLOR_MODES)}")
    im.seek(0)  # first frame of an animated image
    source_single = im.mode in SINGLE_CHANNEL or (im.mode in ("P", "PA") and _palette_is_gray(im))
    if copy or im.getexif().get(0x0112, 1) not in (None, 1):  # without an orientation it only copies
        im = ImageOps.exif_transpose(im)
    im = _to_8bit(im)
    if im.mode in ("P", "PA", "LA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im).convert("RGB")
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")  # 1, CMYK, YCbCr, LAB, HSV ...
    want = "L" if color_mode == "grayscale" or (color_mode == "auto" and source_single) else "RGB"
    return im if im.mode == want else im.convert(want)


def _palette_is_gray(im: "PILImage.Image") -> bool:
    pal = im.getpalette() or []
    trip = np.asarray(pal[: len(pal) // 3 * 3]).reshape(-1, 3)
    return bool(len(trip)) and bool((trip == trip[:, :1]).all())


def _decoded(path: Path, in_chans: int, max_pixels: int | None, color_mode: str, then):
    """``then(image)`` on the file's decoded 8-bit image in the model's channels (through the colour policy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's palette-transparency notice: handled by the policy
        with open_image(path, max_pixels) as raw:
            im = normalise(raw, color_mode, copy=False)  # used before the file closes: no 32-MB copy of a photo
            want = "L" if in_chans == 1 else "RGB"
            im = im if im.mode == want else im.convert(want)
            im.load()
            return then(im)


def decode(path: Path, in_chans: int, max_pixels: int | None = None, color_mode: str = "auto") -> np.ndarray:
    """File -> uint8 array [H, W, C] with the model's channel count, through the colour policy."""
    arr = _decoded(path, in_chans, max_pixels, color_mode, lambda im: np.asarray(im, dtype=np.uint8))
    return arr[:, :, None] if arr.ndim == 2 else arr


def to_float(a: np.ndarray, size) -> np.ndarray:
    """uint8 [H, W] or [H, W, C] -> float32 [C, H, W] in [0, 1], resized by ``size``: a ``transforms.Resize`` (the
    card's interpolation, crop_pct, crop_mode) or an (H, W) pair (bilinear, the whole image)."""
    return np.ascontiguousarray(resize_crop(a, resize_spec(size)).transpose(2, 0, 1), dtype=np.float32)


def load_image(path: Path, in_chans: int, size, color_mode: str = "auto",
               max_pixels: int | None = None) -> np.ndarray:
    """The one path from a file to a model's input: decode (colour policy), resize and centre crop
    (``data.transforms``, ``size`` as in ``to_float``) -> float32 [C, H, W] in [0, 1].

    Training (the streaming dataset), evaluation and serving (``graftline predict``) all call this; it needs
    numpy and PIL only.
    """
    spec = resize_spec(size)
    return _decoded(path, in_chans, max_pixels, color_mode,
                    lambda im: np.ascontiguousarray(resize_crop(im, spec).transpose(2, 0, 1), dtype=np.float32))


def to_input(arrays: list[np.ndarray] | np.ndarray, size) -> "torch.Tensor":
    """uint8 images ([H, W] or [H, W, C], any sizes) -> float tensor [N, C, *size] in [0, 1]."""
    import torch

    spec = resize_spec(size)
    out = [torch.from_numpy(to_float(np.asarray(a), spec)) for a in arrays]
    return torch.stack(out) if out else torch.empty(0)


def normalize(x: "torch.Tensor", mean: list[float], std: list[float]) -> "torch.Tensor":
    import torch

    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s
