"""Image -> SVG: `vectorize(image, method=...)`, colour layers, classical and neural tracers.

    result = vectorize("logo.png")   # method "centerline+refine"; viewBox "0 0 W H" in the input's pixels
    result.save("logo.svg")

Steps of `vectorize`:
1. `load_image`: a path, encoded bytes, a PIL image or a numpy array -> (H, W, 3) uint8 RGB on white,
   or a one-line `ValueError` (see `gfx.svg.vectorization.image_input`).
2. `working_image`: the image at its own resolution, downscaled so its long side is at most `size`
   (1024 by default) and upscaled to `MIN_TRACE_SIZE` when smaller (tracers need a few pixels per stroke).
3. `color_layers`: the background and the ink colours, their number chosen per image by the MSE each
   buys, background-coloured regions enclosed by ink kept as layers, stacked so shapes need no holes
   (`gfx.svg.vectorization.color_layers`). A monochrome icon is one layer.
4. Each layer's mask, black on white and padded to a centred square, is traced by the method's tracer
   into black paths in the 24-unit viewBox that are recoloured with the layer's colour: `centerline`
   (stroke-like ink as round-capped strokes along its medial axis, other ink by vtracer:
   `gfx.svg.vectorization.centerline`), `neural` (the StarVector model, trained on 24-unit squares),
   `vtracer` (binary, polygon mode, path_precision=1, filter_speckle=0: vtracer's most compact accurate
   setting), `vtracer-spline` (binary, vtracer's default spline settings) or `potrace` (only when the
   GPL `potrace` binary is on PATH; not a dependency). `vtracer-color` and `vtracer-color-spline` skip
   the layers and run vtracer's own colour mode on the whole image (polygon / default spline).
5. `+refine` methods: the stacked document is optimised against the image with the soft rasterizer,
   coarse to fine (`gfx.svg.vectorization.refine.refine`); colours are optimised too when there are
   several layers. A trace of more than `MAX_REFINE_PATHS` paths (noise, photographs) is returned
   unrefined (`info["refined"]`).
6. Fallback (neural methods, on by default): when the model's result is more than twice as far from
   the image as vtracer's, vtracer's is returned and `info["fallback"]` says so, so the API never
   hands back a poor guess silently.
7. The drawing is mapped from the square onto the input: viewBox `0 0 W H` and `SVGResult.size`
   (W, H), so the SVG's width and height are the input's pixels and its aspect ratio is kept; numbers
   lie on a half-pixel `GRID`, and our methods' output is tidied (`tidy`: repeated points, flat cubics
   and collinear lines dropped, strokes of one style merged); vtracer and potrace output is left as drawn.
An image with no ink gives an empty (valid) document with `info["empty"] = True`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from gfx.svg.core.document import Document, Path
from gfx.svg.core.result import SVGResult
from gfx.svg.vectorization.color_layers import ColorLayers, color_layers
from gfx.svg.vectorization.image_input import load_image, square_image, working_image
from gfx.svg.vectorization.tracers import (
    VIEW_BOX,
    VTRACER_COLOR,
    VTRACER_COLOR_SPLINE,
    VTRACER_COMPACT,
    VTRACER_SPLINE,
    trace_potrace,
    trace_vtracer,
    trace_vtracer_color,
)

log = logging.getLogger(__name__)

DEFAULT_SIZE = 1024
"""Cap on the long side, in pixels, of the image the tracers see (inputs are traced at their own resolution
up to this)."""
MIN_TRACE_SIZE = 128
"""Smaller inputs are upscaled to this long side before tracing."""


def fidelity(image: np.ndarray, result: SVGResult) -> dict[str, float]:
    """How close a vectorization is to its image (SVG-Bench metrics), and how big.

    Args:
        image: (H, W, 3) uint8 RGB, the input as `load_image` reads it.
        result: the `SVGResult` of vectorizing it.

    Returns:
        {"mse", "ssim"}: the result rendered at the input's own size (H, W) against the input;
        {"bytes"}: the length of the SVG text.
    """
    from gfx.svg.core.metrics import mse, ssim
    from gfx.svg.core.render import render

    h, w = image.shape[:2]
    rendered = render(result.document, (w, h))
    return {"mse": mse(image, rendered), "ssim": ssim(image, rendered), "bytes": len(result.svg.encode("utf-8"))}


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def trace_centerline(images: list[np.ndarray]) -> list[Document]:
    """Trace black-on-white layer images: a single layer (line art) with stroke-like ink along its centerline
    and other ink by vtracer; several colour layers (artwork, whose thin coloured shapes are not pen strokes)
    as filled shapes along their sub-pixel contours (`gfx.svg.vectorization.contours`)."""
    if len(images) > 1:
        from gfx.svg.vectorization.contours import trace_contours

        return trace_contours(images)
    from gfx.svg.vectorization.centerline import trace_centerline as trace

    return trace(images, tolerance=LINE_ART_TOLERANCE)


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
WHOLE_IMAGE_TRACERS = {"vtracer-color": VTRACER_COLOR, "vtracer-color-spline": VTRACER_COLOR_SPLINE}
"""vtracer's own colour modes, run on the whole image instead of on colour layers (baselines)."""
METHODS = ("centerline+refine", "centerline", "neural+refine", "neural", "vtracer", "vtracer-spline",
           "vtracer-color", "vtracer-color-spline", "potrace")
DEFAULT_METHOD = METHODS[0]
"""The best measured method (bench/vectorize): strokes along centerlines, then refinement."""
MAX_REFINE_PATHS = 64
"""Refinement costs ~paths x pixels per step (and pruning ~paths renders): a trace with more paths (noise,
photos) is returned unrefined, with `info["refined"] = False`, instead of taking minutes."""
GRID = 0.5
"""Output coordinates and stroke widths are rounded to multiples of this, in input pixels ("12", "12.5": about
three characters a number, like the old 24-unit viewBox at one decimal)."""
LINE_ART_TOLERANCE = 1.4
"""Fitting tolerance (px) of line art's centerlines before refinement: looser than a plain trace needs (fewer
segments, a shorter SVG), since refinement pulls the curves onto the ink."""
LINE_ART_REFINE = dict(steps=150, size=128)
"""Refinement of one-colour drawings (line art): many steps, at 128 px (the shipped default, bench/vectorize)."""
COLOR_REFINE = dict(steps=20, size=128, filter_start=2.0, prune=False)
"""Refinement of colour artwork: a loose contour trace pulled onto the image in few steps at 128 px, which keeps
a 256 px image under 0.5 s (docs/vectorize.md)."""


def vectorize(
    image,
    method: str = DEFAULT_METHOD,
    *,
    size: int = DEFAULT_SIZE,
    max_colors: int = 12,
    model=None,
    refine_steps: int | None = None,
    fallback: bool = True,
    seed: int = 0,
) -> SVGResult:
    """Image -> SVG with viewBox `0 0 W H` in the input's pixels (see the module docstring for the steps).

    Args:
        image: a path, encoded bytes, a PIL image or a numpy array (see `load_image`).
        method: one of `METHODS`.
        size: cap on the long side, in pixels, of the image the tracers see (larger inputs are downscaled).
        max_colors: most ink colours (layers).
        model: StarVector pipeline or checkpoint directory for the neural methods (default: shipped).
        refine_steps: optimisation steps of the `+refine` methods (None: `LINE_ART_REFINE` for one colour,
            `COLOR_REFINE` for several).
        fallback: for the neural methods, return the `vtracer` result instead when the model's is more
            than twice as far from the image (MSE), with `info["fallback"] = "vtracer"`; False keeps the
            model's output whatever it is (what evaluations of the model use).
        seed: sampling seed of the neural methods.

    Returns:
        An `SVGResult` whose `size` is the input's (width, height); `info` holds the method, colours,
        background, the traced resolution, whether it is empty, whether it was refined (False for plain
        methods and for traces over `MAX_REFINE_PATHS`), the fallback used (or None) and seconds.
    """
    if method not in METHODS:
        raise ValueError(f"unknown vectorize method {method!r}; valid: {', '.join(METHODS)}")
    start = time.perf_counter()
    rgb = load_image(image)
    height, width = rgb.shape[:2]
    work = working_image(rgb, size, MIN_TRACE_SIZE)
    h, w = work.shape[:2]
    scale = width / w  # input pixels per traced pixel
    info = {"method": method, "trace_size": [w, h], "refined": False, "fallback": None}
    if method in WHOLE_IMAGE_TRACERS:
        [document] = trace_vtracer_color([work], **WHOLE_IMAGE_TRACERS[method])
        document = place(document, scale, (0.0, 0.0), (width, height))
        info.update(colors=sorted({p.style.fill for p in document.paths}), background=None)
    else:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        target = square_image(work, side)
        layers = color_layers(work, max_colors=max_colors, seed=seed)
        area = tuple(v * VIEW_BOX[2] / side for v in (left, top, w, h))
        document = trace_layers(layers.pad(top, left, side), method.removesuffix("+refine"), model=model,
                                seed=seed, area=area)
        if method.endswith("+refine") and 0 < len(document.elements) <= MAX_REFINE_PATHS:
            from gfx.svg.vectorization.refine import refine

            schedule = dict(COLOR_REFINE if len(layers.colors) > 1 else LINE_ART_REFINE)
            if refine_steps is not None:
                schedule["steps"] = refine_steps
            schedule["size"] = min(schedule["size"], side)
            document = refine(document, target, colors=len(layers.colors) > 1, decimals=None, **schedule)
            info["refined"] = True
        elif method.endswith("+refine") and document.elements:
            log.info("%d paths: over MAX_REFINE_PATHS (%d), returning the %s trace unrefined",
                     len(document.elements), MAX_REFINE_PATHS, method.removesuffix("+refine"))
        if fallback and method.startswith("neural") and document.elements:
            from gfx.svg.core.metrics import mse
            from gfx.svg.core.render import render

            classical = trace_layers(layers.pad(top, left, side), "vtracer", area=area)
            if mse(target, render(document, side)) > 2 * mse(target, render(classical, side)) + 1e-3:
                document, info["fallback"] = classical, "vtracer"
                log.info("the %s result was more than twice as far from the image as vtracer's; using vtracer",
                         method)
        unit = side / VIEW_BOX[2]  # traced pixels per viewBox unit
        document = place(document, scale * unit, (-left * scale, -top * scale), (width, height))
        if not method.startswith(("vtracer", "potrace")):  # baselines stay as their tracer drew them
            document = tidy(document)
        info.update(colors=[_hex(c) for c in layers.colors], background=_hex(layers.background))
    info.update(empty=not document.elements, seconds=time.perf_counter() - start)
    return SVGResult(document, (), None, info, size=(width, height))


def place(document: Document, scale: float, offset: tuple[float, float], size: tuple[int, int]) -> Document:
    """`document` mapped by `xy * scale + offset` onto viewBox `0 0 width height`, rounded to the `GRID`.

    Args:
        document: normalized.
        scale: output units per document unit (stroke widths scale alike).
        offset: (dx, dy) added after scaling.
        size: (width, height) of the output viewBox.
    """
    shift = np.asarray(offset, dtype=np.float64)
    paths = []
    for p in document.paths:
        coords = (p.coords.reshape(-1, 2) * scale + shift).reshape(-1)
        style = p.style
        if style.stroke is not None:  # a fill-only path keeps the default width (nothing to write)
            style = style.replace(stroke_width=_snap(float(style.stroke_width) * scale))
        paths.append(Path(p.commands, _snap(coords), style))
    return Document((0.0, 0.0, float(size[0]), float(size[1])), paths)


def tidy(document: Document) -> Document:
    """Shorter text for the same drawing (within half a `GRID`): `simplify_path` on every path, then
    `merge_strokes`."""
    return merge_strokes(Document(document.view_box, [simplify_path(p) for p in document.paths]))


def simplify_path(path: Path) -> Path:
    """Without the lines that end where they start (after snapping), except a subpath's first (a dot); cubics
    whose control points lie within half a `GRID` of their chord become lines, and a line continuing the
    previous one within half a `GRID` extends it."""
    commands, coords, cursor, start, previous, line_start = "", [], None, None, "", None
    xy = path.coords.reshape(-1, 2)
    i = 0
    for c in path.commands:
        n = {"M": 1, "L": 1, "C": 3}.get(c, 0)
        points = xy[i : i + n]
        i += n
        if c == "L" and previous != "M" and (points[0] == cursor).all():
            continue
        if c == "C" and _chord_distance(cursor, points) <= GRID / 2:
            c, points = "L", points[2:]
        if c == "L" and previous == "L" and _chord_distance(line_start, np.stack([cursor, cursor, points[0]])) <= GRID / 2:
            coords[-2:] = points[0]  # the previous line now ends here
            cursor = points[0]
            continue
        if c == "L":
            line_start = cursor
        commands += c
        coords.extend(points.reshape(-1))
        if c == "M":
            start = points[0]
        cursor, previous = (points[-1] if n else start), c
    return Path(commands, np.asarray(coords, dtype=np.float64), path.style)


def merge_strokes(document: Document) -> Document:
    """Consecutive stroke-only paths with one style become one path: the same drawing (strokes of one opaque
    paint cover their union), written with one set of attributes."""
    merged: list[Path] = []
    for p in document.paths:
        last = merged[-1] if merged else None
        if (last is not None and p.style.fill is None and last.style == p.style
                and p.style.opacity == p.style.stroke_opacity == 1):
            merged[-1] = Path(last.commands + p.commands, np.concatenate([last.coords, p.coords]), last.style)
        else:
            merged.append(p)
    return Document(document.view_box, merged)


def _chord_distance(start: np.ndarray, cubic: np.ndarray) -> float:
    """Largest distance of a cubic's control points (`cubic` (3, 2): c1, c2, end) from the segment start-end."""
    d = cubic[2] - start
    t = np.clip((cubic[:2] - start) @ d / max(float(d @ d), 1e-12), 0, 1)
    return float(np.linalg.norm(cubic[:2] - (start + t[:, None] * d), axis=1).max())


def _snap(values):
    return np.round(np.asarray(values) / GRID) * GRID if np.ndim(values) else round(values / GRID) * GRID


def trace_layers(layers: ColorLayers, tracer: str, model=None, seed: int = 0,
                 area: tuple[float, float, float, float] = VIEW_BOX) -> Document:
    """Trace every layer's mask with `TRACERS[tracer]`, recolour and stack them over the backdrop.

    Args:
        layers: square masks.
        area: (x, y, width, height) of the picture inside the 24-unit square, which a coloured backdrop fills.
    """
    elements = []
    if layers.background.min() < 250:  # a coloured backdrop is part of the picture
        from gfx.svg.core.normalize import normalize
        from gfx.svg.core.parse import parse_svg

        x, y, w, h = area
        backdrop = (f'<svg viewBox="0 0 24 24"><rect x="{x:.4f}" y="{y:.4f}" width="{w:.4f}" height="{h:.4f}" '
                    f'fill="{_hex(layers.background)}"/></svg>')
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
