"""Image intake for the vectorizers: any image a user brings -> (H, W, 3) uint8 RGB on white.

`load_image` takes a path, encoded bytes, a PIL image or a numpy array, or raises a one-line `ValueError`
(empty, over `MAX_PIXELS` (refused from the header, before decoding), corrupt or truncated, not an image,
wrong array shape/dtype/range). `working_image` resizes to the resolution the tracers work at, keeping the
aspect ratio; `square_image` pads to a centred white square of a given side.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np

MAX_PIXELS = 4096 * 4096
"""Largest accepted input (width x height); larger images are refused before they are decoded."""


def load_image(image, *, max_pixels: int = MAX_PIXELS, source: str | None = None) -> np.ndarray:
    """Any supported image -> (H, W, 3) uint8 RGB, transparency composited on white.

    Args:
        image: a file path, encoded image bytes, a `PIL.Image.Image`, or a numpy array
            (H, W) / (H, W, 1|2|3|4) of uint8, uint16, bool, or float in [0, 1].
        max_pixels: refuse images with more pixels than this.
        source: the input's name in error messages (default: the path, or the input's type).

    Raises:
        ValueError: empty, too large, corrupt, not an image, or an unsupported array.
        FileNotFoundError: a path that does not exist.
    """
    from PIL import Image

    if isinstance(image, np.ndarray):
        return _from_array(image, max_pixels, source or "image array")
    if isinstance(image, str | os.PathLike):
        source = source or str(image)
        with open(image, "rb") as f:  # FileNotFoundError / IsADirectoryError speak for themselves
            data = f.read()
    elif isinstance(image, bytes | bytearray | memoryview):
        source, data = source or "image bytes", bytes(image)
    elif isinstance(image, Image.Image):
        return _from_pil(image, max_pixels, source or "PIL image")
    else:
        raise ValueError(f"cannot read an image from a {type(image).__name__}; pass a path, bytes, a PIL image "
                         "or a numpy array")
    if not data:
        raise ValueError(f"{source} is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            pil = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ValueError(f"{source} is over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} Mpx (a decompression bomb?); "
                             f"the limit is {max_pixels / 1e6:.1f} Mpx (max_pixels): downscale it first") from None
        except Exception:  # UnidentifiedImageError and friends
            raise ValueError(f"{source} is not an image PIL can read (corrupt, or not an image file)") from None
        return _from_pil(pil, max_pixels, source)


def _check_size(width: int, height: int, max_pixels: int, source: str) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"{source} is empty ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise ValueError(f"{source} is {width}x{height} ({width * height / 1e6:.1f} Mpx); the limit is "
                         f"{max_pixels / 1e6:.1f} Mpx (max_pixels): downscale it first")


def _from_pil(pil, max_pixels: int, source: str) -> np.ndarray:
    from PIL import Image, ImageOps

    _check_size(*pil.size, max_pixels, source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            pil.seek(0)
            pil.load()
            pil = ImageOps.exif_transpose(pil)
    except Exception as err:  # truncated or corrupt data
        raise ValueError(f"{source} is corrupt or truncated ({type(err).__name__}: {err})") from None
    mode = pil.mode
    if mode == "F":  # PIL float images hold 0..255 (or 0..1) grey levels
        grey = np.nan_to_num(np.asarray(pil, dtype=np.float64))
        return _from_array(np.clip(grey / 255.0 if grey.max() > 1 else grey, 0, 1), max_pixels, source)
    if mode.startswith("I"):  # 16- or 32-bit integer grey
        return _from_array(np.asarray(pil), max_pixels, source)
    if mode == "CMYK" or mode in ("YCbCr", "LAB", "HSV"):
        pil = pil.convert("RGB")
    elif mode != "RGB":
        pil = pil.convert("RGBA")  # 1, L, LA, P (+ transparency), PA, RGBa, ...
    return _composite(np.asarray(pil))


def _from_array(array: np.ndarray, max_pixels: int, source: str) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ValueError(f"{source} has shape {a.shape}; expected (H, W) or (H, W, 1|2|3|4)")
    _check_size(a.shape[1], a.shape[0], max_pixels, source)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError(f"{source} holds NaN or infinite values")
        if a.min() < 0 or a.max() > 1:
            raise ValueError(f"{source} is a float image with values in [{a.min():g}, {a.max():g}]; "
                             "float images must lie in [0, 1]")
        a = np.rint(a * 255).astype(np.uint8)
    elif a.dtype.kind in "ui":
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 65535:
            raise ValueError(f"{source} has integer values in [{lo}, {hi}]; expected 0..255 or 16-bit 0..65535")
        sixteen_bit = a.dtype == np.uint16 or hi > 255  # wider ints holding 0..255 are 8-bit levels
        a = np.rint(a / 257.0).astype(np.uint8) if sixteen_bit else a.astype(np.uint8)
    else:
        raise ValueError(f"{source} has dtype {a.dtype}; expected uint8, uint16, bool or float in [0, 1]")
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] == 2:  # grey + alpha
        a = np.concatenate([np.repeat(a[..., :1], 3, axis=2), a[..., 1:]], axis=2)
    return _composite(a)


def _composite(a: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) uint8 -> (H, W, 3) uint8 on white."""
    from gfx.svg.core.render import to_rgb

    return np.ascontiguousarray(to_rgb(a))


def square_image(rgb: np.ndarray, size: int) -> np.ndarray:
    """Pad an RGB image to a centred square with white and resize it to `size` x `size`.

    Args:
        rgb: (H, W, 3) uint8.
        size: output side in pixels.

    Returns:
        (size, size, 3) uint8.
    """
    from PIL import Image

    h, w = rgb.shape[:2]
    side = max(h, w)
    canvas = np.full((side, side, 3), 255, dtype=np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    canvas[top : top + h, left : left + w] = rgb
    if side == size:
        return canvas
    return np.asarray(Image.fromarray(canvas).resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0))




def working_image(rgb: np.ndarray, max_side: int, min_side: int = 1) -> np.ndarray:
    """The image at its own resolution, resized (aspect ratio kept) only if its long side is outside
    [min_side, max_side].

    Args:
        rgb: (H, W, 3) uint8.
        max_side: larger images are downscaled to this long side (Lanczos).
        min_side: smaller images are upscaled to this long side (bilinear: no ringing, so no new colours).

    Returns:
        (h, w, 3) uint8.
    """
    from PIL import Image

    h, w = rgb.shape[:2]
    long_side = max(h, w)
    target = min(max(long_side, min_side), max_side)
    if target == long_side:
        return rgb
    k = target / long_side
    size = (max(1, round(w * k)), max(1, round(h * k)))
    if k > 1:
        return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
