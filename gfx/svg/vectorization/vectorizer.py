"""Image -> SVG: `vectorize(image, method=...)`, image intake, colour layers, classical tracers.

    result = vectorize("logo.png")   # method "centerline+refine"; SVGResult in the 24-unit viewBox
    result.save("logo.svg")

Steps of `vectorize`:
1. `load_image`: a path, encoded bytes, a PIL image or a numpy array -> (H, W, 3) uint8 RGB on white,
   or a one-line `ValueError` (empty, over `MAX_PIXELS` (refused from the header, before decoding:
   downscale it first), corrupt or truncated, not an image, wrong array shape/dtype/range). Palette,
   greyscale, LA, CMYK, YCbCr, 16-bit and float greyscale and RGBA are converted; transparency is
   composited on white (vtracer would read it as black); EXIF orientation is applied; animated
   images use their first frame.
2. `square_image`: pad to a centred white square and resize to `size` px; the square maps onto the
   24-unit viewBox, so every method is compared in the same space.
3. `color_layers`: the background colour (the border's median) and up to `max_colors` ink colours
   (k-means in RGB over clearly inked pixels); each pixel is explained as a blend of the background
   and one ink colour, which gives every layer an anti-aliased coverage mask. Layers are stacked
   largest first and each layer's mask also covers the layers above it (like vtracer's "stacked"
   mode), so shapes need no holes for what is painted over them. A monochrome icon is one layer.
4. Each layer's mask, black on white, is traced by the method's tracer into black paths that are
   recoloured with the layer's colour: `centerline` (stroke-like ink as round-capped strokes along its
   medial axis, other ink by vtracer: `gfx.svg.vectorization.centerline`), `neural` (the StarVector model), `vtracer` (binary, polygon
   mode, path_precision=1, filter_speckle=0: vtracer's most compact accurate setting),
   `vtracer-spline` (binary, vtracer's default spline settings) or `potrace` (only when the GPL
   `potrace` binary is on PATH; not a dependency).
5. `+refine` methods: the stacked document is optimised against the image with the soft rasterizer
   (`gfx.svg.vectorization.refine.refine`); colours are optimised too when there are several layers. A trace of more
   than `MAX_REFINE_PATHS` paths (noise, photographs) is returned unrefined (`info["refined"]`).
6. Fallback (neural methods, on by default): when the model's result is more than twice as far from
   the image as vtracer's, vtracer's is returned and `info["fallback"]` says so, so the API never
   hands back a poor guess silently.
An image with no ink gives an empty (valid) document with `info["empty"] = True`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gfx.svg.core.document import Document, Path
from gfx.svg.core.result import SVGResult
from gfx.svg.vectorization.image_input import load_image, square_image
from gfx.svg.vectorization.tracers import (
    VIEW_BOX,
    VTRACER_COMPACT,
    VTRACER_SPLINE,
    trace_potrace,
    trace_vtracer,
)

log = logging.getLogger(__name__)

DEFAULT_SIZE = 128
"""Side in pixels of the square every method traces (and refinement compares against)."""


# --- 2. colour layers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ColorLayers:
    """An image explained as ink colours over a background.

    Attributes:
        background: (3,) uint8 RGB of the backdrop.
        colors: (K, 3) uint8 RGB ink colours, in paint order (largest layer first).
        masks: (K, H, W) float32 coverage in [0, 1]; mask k covers layer k and every layer above it.
    """

    background: np.ndarray
    colors: np.ndarray
    masks: np.ndarray

    def mask_images(self) -> list[np.ndarray]:
        """Each layer's mask as an (H, W, 3) uint8 image, black ink on white."""
        return [np.repeat(np.rint(255 * (1 - m))[..., None], 3, axis=2).astype(np.uint8) for m in self.masks]


def fidelity(image: np.ndarray, result: SVGResult) -> dict[str, float]:
    """How close a vectorization is to its image (SVG-Bench metrics), and how big.

    Args:
        image: (H, W, 3) uint8 RGB, the input as `gfx.svg.vectorization.vectorizer.load_image` reads it.
        result: the `SVGResult` of vectorizing it.

    Returns:
        {"mse", "ssim"}: the result rendered at `result.info["size"]` px against the input padded to a
        square at that size (what the tracers saw); {"bytes"}: the length of the SVG text.
    """
    from gfx.svg.core.metrics import mse, ssim

    size = result.info["size"]
    target, rendered = square_image(image, size), result.render(size)
    return {"mse": mse(target, rendered), "ssim": ssim(target, rendered), "bytes": len(result.svg.encode("utf-8"))}


def color_layers(rgb: np.ndarray, max_colors: int = 6, tolerance: float = 0.15, ink: float = 0.3,
                 min_area: float = 0.001, seed: int = 0) -> ColorLayers:
    """Quantize an image into a background and up to `max_colors` ink layers.

    Args:
        rgb: (H, W, 3) uint8.
        max_colors: most ink colours.
        tolerance: k grows until all but 0.2% of the clearly inked, flat pixels lie within this RGB distance
            (in [0, 1]) of their colour.
        ink: a pixel this far (RGB distance) from the background counts as clearly inked for clustering.
        min_area: layers covering less than this share of the image are dropped.
        seed: k-means seed.
    """
    from scipy.cluster.vq import kmeans2

    img = rgb.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    background = np.median(border, axis=0)
    diff = img - background  # (H, W, 3)
    inked = np.linalg.norm(diff, axis=-1) > ink
    # cluster only flat pixels (3x3 colour range small): anti-aliased edges are blends, not colours
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    shifted = np.stack([pad[i : i + h, j : j + w] for i in range(3) for j in range(3)])
    flat = (shifted.max(0) - shifted.min(0)).max(-1) < 0.1
    if (inked & flat).sum() >= max(4, min_area * h * w):
        inked &= flat
    empty = ColorLayers(_u8(background), np.zeros((0, 3), np.uint8), np.zeros((0, h, w), np.float32))
    if inked.sum() < max(4, min_area * h * w):
        return empty
    samples = img[inked]
    rng = np.random.default_rng(seed)
    if len(samples) > 4000:
        samples = samples[rng.choice(len(samples), 4000, replace=False)]
    centers = samples.mean(0, keepdims=True)
    for k in range(1, max_colors + 1):
        if k > 1:
            centers, _ = kmeans2(samples.astype(np.float64), k, minit="++", seed=seed)
            centers = centers.astype(np.float32)
        dist = np.sqrt(np.min(((samples[:, None] - centers[None]) ** 2).sum(-1), axis=1))
        if (dist > tolerance).mean() < 0.002:  # all but a few stray pixels are within `tolerance`
            break
    # every pixel = background + a (center_j - background), a in [0, 1], for its best-fitting j
    direction = centers - background  # (K, 3)
    alpha = np.clip(np.einsum("hwc,kc->khw", diff, direction) / (direction**2).sum(-1)[:, None, None], 0, 1)
    residual = np.linalg.norm(diff[None] - alpha[..., None] * direction[:, None, None], axis=-1)
    best = residual.argmin(0)
    masks = np.where(best[None] == np.arange(len(centers))[:, None, None], alpha, 0.0)
    masks[masks < 0.05] = 0
    order = [k for k in np.argsort(-masks.sum((1, 2))) if masks[k].sum() >= min_area * h * w]
    if not order:
        return empty
    masks = masks[order]
    stacked = np.minimum(np.cumsum(masks[::-1], axis=0)[::-1], 1.0)  # a layer also covers those above it
    return ColorLayers(_u8(background), np.stack([_u8(centers[k]) for k in order]), stacked.astype(np.float32))


def _u8(rgb01: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> uint8, near-black and near-white snapped to pure black and white."""
    rgb = np.clip(np.rint(np.asarray(rgb01) * 255), 0, 255).astype(np.uint8)
    if rgb.max() <= 24:
        return np.zeros_like(rgb)
    return np.full_like(rgb, 255) if rgb.min() >= 240 else rgb


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def trace_centerline(images: list[np.ndarray]) -> list[Document]:
    """Trace black-on-white images: stroke-like ink along its centerline, other ink by vtracer."""
    from gfx.svg.vectorization.centerline import trace_centerline as trace

    return trace(images)


def trace_neural(images: list[np.ndarray], model=None, seed: int = 0) -> list[Document]:
    """Trace black-on-white images with the StarVector model (`model`: a pipeline or directory)."""
    from gfx.svg.starvector import StarVector, load_default

    pipe = model if isinstance(model, StarVector) else load_default(None if model is None else str(model))
    return [r.document for r in pipe.vectorize_batch(images, seed=seed)]


TRACERS: dict[str, Callable[..., list[Document]]] = {
    "neural": trace_neural,
    "vtracer": lambda images, **_: trace_vtracer(images, **VTRACER_COMPACT),
    "vtracer-spline": lambda images, **_: trace_vtracer(images, **VTRACER_SPLINE),
    "potrace": lambda images, **_: trace_potrace(images),
    "centerline": lambda images, **_: trace_centerline(images),
}
METHODS = ("centerline+refine", "centerline", "neural+refine", "neural", "vtracer", "vtracer-spline", "potrace")
DEFAULT_METHOD = METHODS[0]
"""The best measured method (bench/vectorize): strokes along centerlines, then refinement."""
MAX_REFINE_PATHS = 48
"""Refinement costs ~paths x pixels per step (and pruning ~paths renders): a trace with more paths (noise,
photos) is returned unrefined, with `info["refined"] = False`, instead of taking minutes."""


# --- 4. vectorize -------------------------------------------------------------------------------
def vectorize(
    image,
    method: str = DEFAULT_METHOD,
    *,
    size: int = DEFAULT_SIZE,
    max_colors: int = 6,
    model=None,
    refine_steps: int = 150,
    fallback: bool = True,
    seed: int = 0,
) -> SVGResult:
    """Image -> SVG in the 24-unit viewBox (see the module docstring for the steps).

    Args:
        image: a path, encoded bytes, a PIL image or a numpy array (see `load_image`).
        method: one of `METHODS`.
        size: side in pixels of the square the tracers see.
        max_colors: most ink colours (layers).
        model: StarVector pipeline or checkpoint directory for the neural methods (default: shipped).
        refine_steps: optimisation steps of the `+refine` methods.
        fallback: for the neural methods, return the `vtracer` result instead when the model's is more
            than twice as far from the image (MSE), with `info["fallback"] = "vtracer"`; False keeps the
            model's output whatever it is (what evaluations of the model use).
        seed: sampling seed of the neural methods.

    Returns:
        An `SVGResult`; `info` holds the method, colours, background, whether it is empty, whether it
        was refined (False for plain methods and for traces over `MAX_REFINE_PATHS`), the fallback used
        (or None) and seconds.
    """
    if method not in METHODS:
        raise ValueError(f"unknown vectorize method {method!r}; valid: {', '.join(METHODS)}")
    start = time.perf_counter()
    target = square_image(load_image(image), size)
    layers = color_layers(target, max_colors=max_colors, seed=seed)
    document = trace_layers(layers, method.removesuffix("+refine"), model=model, seed=seed)
    refined = method.endswith("+refine") and 0 < len(document.elements) <= MAX_REFINE_PATHS
    if refined:
        from gfx.svg.vectorization.refine import refine

        document = refine(document, target, steps=refine_steps, size=size, colors=len(layers.colors) > 1)
    elif method.endswith("+refine") and document.elements:
        log.info("%d paths: over MAX_REFINE_PATHS (%d), returning the %s trace unrefined",
                 len(document.elements), MAX_REFINE_PATHS, method.removesuffix("+refine"))
    used = None
    if fallback and method.startswith("neural") and document.elements:
        from gfx.svg.core.metrics import mse
        from gfx.svg.core.render import render

        classical = trace_layers(layers, "vtracer")
        if mse(target, render(document, size)) > 2 * mse(target, render(classical, size)) + 1e-3:
            document, used = classical, "vtracer"
            log.info("the %s result was more than twice as far from the image as vtracer's; using vtracer", method)
    info = {"method": method, "colors": [_hex(c) for c in layers.colors], "background": _hex(layers.background),
            "size": size, "empty": not document.elements, "refined": refined, "fallback": used,
            "seconds": time.perf_counter() - start}
    return SVGResult(document, (), None, info)


def trace_layers(layers: ColorLayers, tracer: str, model=None, seed: int = 0) -> Document:
    """Trace every layer's mask with `TRACERS[tracer]`, recolour and stack them over the backdrop."""
    elements = []
    if layers.background.min() < 250:  # a coloured backdrop is part of the picture
        from gfx.svg.core.normalize import normalize
        from gfx.svg.core.parse import parse_svg

        backdrop = f'<svg viewBox="0 0 24 24"><rect width="24" height="24" fill="{_hex(layers.background)}"/></svg>'
        elements += normalize(parse_svg(backdrop)).elements
    if len(layers.colors):
        docs = TRACERS[tracer](layers.mask_images(), model=model, seed=seed)
        for color, doc in zip(layers.colors, docs, strict=True):
            elements += [recolor(e, _hex(color)) for e in doc.elements]
    return Document(VIEW_BOX, elements)


def recolor(path: Path, color: str) -> Path:
    """A copy of `path` painting `color` wherever it painted before (fill and/or stroke)."""
    style = path.style.replace(fill=None if path.style.fill is None else color,
                               stroke=None if path.style.stroke is None else color)
    return Path(path.commands, path.coords.copy(), style)
