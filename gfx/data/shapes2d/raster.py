"""Paint a `Scene` as an RGB image: shapes drawn at 4x and box-filtered down, so edges are anti-aliased.

Geometry (fractions of the image side S): the image is a 3x3 grid of cells; an object is centred in its cell with
extent `EXTENT[size]` of the cell. Styles: "filled"; "outlined" (a band of `LINE` inside the silhouette);
"striped" and "dotted" (the outline plus diagonal stripes or a dot lattice inside). The implicit mark is a grey
ring of radius `MARK_RADIUS` in a corner.
"""

from __future__ import annotations

import numpy as np

from gfx.data.shapes2d.world import COLORS, MARK_COLOR, PALETTES, Scene, Shape2D

SUPERSAMPLE = 4
EXTENT = {"small": 0.55, "large": 0.8}
LINE = 2.0 / 64
"""Outline width as a fraction of the side (2 px at 64 px)."""
STRIPE_PERIOD = 4.0 / 64
DOT_PERIOD = 4.0 / 64
MARK_RADIUS = 2.5 / 64
MARK_CENTER = 3.5 / 64


def shape_mask(shape: str, center: tuple[float, float], extent: float, side: int) -> np.ndarray:
    """(side, side) bool silhouette of `shape` centred at `center` (x, y pixels) with bounding size `extent` px."""
    from PIL import Image, ImageDraw

    cx, cy = center
    r = extent / 2
    if shape == "circle":
        points = None
    elif shape == "square":
        s = 0.82 * r
        points = [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    elif shape == "triangle":
        points = [(cx, cy - r), (cx + r, cy + 0.8 * r), (cx - r, cy + 0.8 * r)]
    elif shape == "star":
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, 0.5 * r)
        points = list(zip(cx + radii * np.cos(angles), cy + 0.1 * r + radii * np.sin(angles), strict=True))
    elif shape == "heart":
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
        points = list(zip(cx + x / 17 * r, cy - (y + 2.5) / 16 * r, strict=True))
    elif shape == "cross":  # a plus sign whose arms are 0.36 of its extent wide
        a = 0.36 * r
        points = [(cx - a, cy - r), (cx + a, cy - r), (cx + a, cy - a), (cx + r, cy - a), (cx + r, cy + a),
                  (cx + a, cy + a), (cx + a, cy + r), (cx - a, cy + r), (cx - a, cy + a), (cx - r, cy + a),
                  (cx - r, cy - a), (cx - a, cy - a)]
    else:
        raise KeyError(f"unknown shape {shape!r}")
    image = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(image)
    if points is None:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        draw.polygon([(float(a), float(b)) for a, b in points], fill=255)
    return np.asarray(image) > 127


def styled(mask: np.ndarray, style: str, side: int) -> np.ndarray:
    """The painted part of a silhouette in `style` (bool, same shape)."""
    from scipy.ndimage import distance_transform_edt

    if style == "filled":
        return mask
    outline = mask & (distance_transform_edt(mask) <= LINE * side)
    y, x = np.mgrid[0:side, 0:side]
    if style == "outlined":
        return outline
    if style == "striped":
        inside = ((x + y) // max(1, round(STRIPE_PERIOD * side / 2))) % 2 == 0
    elif style == "dotted":
        period = DOT_PERIOD * side
        inside = ((x % period - period / 2) ** 2 + (y % period - period / 2) ** 2) <= (period / 4) ** 2
    else:
        raise KeyError(f"unknown style {style!r}")
    return outline | (mask & inside)


def object_center(obj: Shape2D, side: float) -> tuple[float, float]:
    row, col = obj.cell
    return ((col + 0.5) * side / 3, (row + 0.5) * side / 3)


def silhouette(obj: Shape2D, size: int) -> np.ndarray:
    """(size, size) bool: where `obj` lies in a `size` px picture, filled whatever the scene's style."""
    return shape_mask(obj.shape, object_center(obj, size), EXTENT[obj.size] * size / 3, size)


def mark_center(corner: str, side: float) -> tuple[float, float]:
    vertical, horizontal = corner.split()
    offset = MARK_CENTER * side
    return (offset if horizontal == "left" else side - offset, offset if vertical == "top" else side - offset)


def mark_box(corner: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the mark's ring in `corner`, in fractions of the image side (y down): its exact box."""
    cx, cy = mark_center(corner, 1.0)
    return (cx - MARK_RADIUS, cy - MARK_RADIUS, cx + MARK_RADIUS, cy + MARK_RADIUS)


def coverage(mask: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter a (S*f, S*f) bool mask to (S, S) float32 coverage."""
    s = mask.shape[0] // factor
    return mask.reshape(s, factor, s, factor).mean(axis=(1, 3), dtype=np.float32)


def render(scene: Scene, size: int = 64) -> np.ndarray:
    """(size, size, 3) uint8 RGB picture of `scene`."""
    big = size * SUPERSAMPLE
    image = np.empty((size, size, 3), np.float32)
    image[:] = PALETTES[scene.palette]
    layers = [(styled(silhouette(o, big), scene.style, big), COLORS[o.color]) for o in scene.objects]
    if scene.mark is not None:
        cx, cy = mark_center(scene.mark, big)
        y, x = np.mgrid[0:big, 0:big]
        d = np.hypot(x + 0.5 - cx, y + 0.5 - cy)
        layers.append(((d <= MARK_RADIUS * big) & (d >= 0.5 * MARK_RADIUS * big), MARK_COLOR))
    for mask, color in layers:
        alpha = coverage(mask, SUPERSAMPLE)[..., None]
        image = image * (1 - alpha) + np.asarray(color, np.float32) * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
