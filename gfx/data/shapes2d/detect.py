"""Read a 2D-world picture back into its properties: palette, implicit mark, objects (shape, colour, size, cell),
count and style. Plain numpy + scipy, no learning: every rule uses the world's known palette and geometry.

    found = detect(image)              # image: (S, S, 3) uint8
    found.objects[0].shape, found.style, found.mark
    property_accuracy(scenes, images)  # per-property accuracy against ground truth

Steps of `detect`:
1. background = median of the border; palette = the nearer of PALETTES.
2. mark: the grey ring's pixels in each corner.
3. every pixel is explained as a blend of the background and each world colour (`blend_fit`); pixels at least half
   a colour are ink; a one-pixel closing joins the stripes and dots of one object, and connected components are the
   objects, each of the colour most of its ink has.
4. per object: its silhouette (holes filled) is cropped, resized to a 32 px square and matched against each shape's
   template (best IoU); size from its extent; cell from its centre.
5. style (one per image, pooled over the objects): filled / outlined from how much of the silhouette's interior is
   painted; striped vs dotted from whether the paint repeats along the stripes' diagonal.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gfx.data.shapes2d.raster import EXTENT, MARK_CENTER, MARK_RADIUS, coverage, shape_mask
from gfx.data.shapes2d.world import COLORS, CORNERS, MARK_COLOR, PALETTES, SHAPES, Scene

TEMPLATE = 32
COLOR_TOLERANCE = 60.0
"""Largest RGB distance of a pixel from its best blend of a world colour and the background."""
INTERIOR_DEPTH = (3.7 / 64, 2.2 / 64)
"""Pixels this deep inside a silhouette (well past the outline band; the second for thin shapes) tell the style."""
MIN_AREA = 0.008
"""Smallest object, as a fraction of the image area (a small object covers about 0.02)."""


@dataclass(frozen=True)
class DetectedObject:
    shape: str
    color: str
    size: str
    cell: tuple[int, int]
    area: int


@dataclass(frozen=True)
class Detection:
    palette: str
    mark: str | None
    style: str | None
    objects: tuple[DetectedObject, ...]

    @property
    def count(self) -> int:
        return len(self.objects)


def _crop_square(mask: np.ndarray) -> np.ndarray:
    """The mask's bounding box padded to a square and resized to TEMPLATE px (float32 in [0, 1])."""
    from PIL import Image

    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(y1 - y0, x1 - x0)
    square = np.zeros((side, side), np.uint8)
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    square[oy : oy + y1 - y0, ox : ox + x1 - x0] = mask[y0:y1, x0:x1] * 255
    resized = Image.fromarray(square).resize((TEMPLATE, TEMPLATE), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32) / 255


@functools.lru_cache(maxsize=64)
def shape_templates(extent: int, shapes: tuple[str, ...] = SHAPES) -> dict[str, np.ndarray]:
    """Each shape's silhouette as the world paints it `extent` px wide, cropped to a TEMPLATE px square."""
    side = 4 * (extent + 4)
    return {s: _crop_square(coverage(shape_mask(s, (side / 2, side / 2), 4 * extent, side), 4) > 0.5)
            for s in shapes}


def classify_shape(silhouette: np.ndarray, shapes: tuple[str, ...] = SHAPES) -> str:
    """The shape of `shapes` whose template, drawn at the silhouette's own size, overlaps it best (IoU)."""
    ys, xs = np.nonzero(silhouette)
    crop = _crop_square(silhouette)
    extent = int(max(np.ptp(ys), np.ptp(xs)) + 1)
    scores = {s: np.minimum(crop, t).sum() / max(np.maximum(crop, t).sum(), 1e-6)
              for s, t in shape_templates(extent, tuple(shapes)).items()}
    return max(scores, key=scores.get)


def classify_style(painted: np.ndarray, silhouette: np.ndarray) -> str:
    """Style of one object from its painted pixels inside its silhouette."""
    from scipy.ndimage import distance_transform_edt

    depth = distance_transform_edt(silhouette) / silhouette.shape[0]
    interior = depth > INTERIOR_DEPTH[0]
    if interior.sum() < 4:
        interior = depth > INTERIOR_DEPTH[1]
    if interior.sum() < 4:
        return "filled"
    filled = painted[interior].mean()
    if filled > 0.9:
        return "filled"
    if filled < 0.08:
        return "outlined"
    inner = painted & interior
    along = agreement(inner[1:, :-1], inner[:-1, 1:], interior[1:, :-1] & interior[:-1, 1:])  # (x+1, y-1)
    across = agreement(inner[1:, 1:], inner[:-1, :-1], interior[1:, 1:] & interior[:-1, :-1])  # (x+1, y+1)
    return "striped" if along - across > 0.25 else "dotted"


def agreement(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Share of the pixels `where` holds at which boolean maps `a` and `b` agree (0 where it holds none: an
    interior too scattered to have diagonal neighbours reads as dotted)."""
    return float((a == b)[where].mean()) if where.any() else 0.0


def detect_mark(image: np.ndarray) -> str | None:
    """The corner whose mark disk holds grey, unsaturated pixels, or None."""
    side = image.shape[0]
    pixels = image.astype(np.float32)
    grey = (np.linalg.norm(pixels - np.asarray(MARK_COLOR, np.float32), axis=-1) < 60) & (np.ptp(pixels, axis=-1) < 30)
    y, x = np.mgrid[0:side, 0:side]
    best, best_count = None, 0.1 * (MARK_RADIUS * side) ** 2 * np.pi
    for corner in CORNERS:
        vertical, horizontal = corner.split()
        cx = MARK_CENTER * side if horizontal == "left" else side - MARK_CENTER * side
        cy = MARK_CENTER * side if vertical == "top" else side - MARK_CENTER * side
        count = grey[np.hypot(x + 0.5 - cx, y + 0.5 - cy) <= MARK_RADIUS * side].sum()
        if count > best_count:
            best, best_count = corner, count
    return best


def blend_fit(pixels: np.ndarray, background: np.ndarray, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Explain each pixel as `alpha * color + (1 - alpha) * background` for every world colour.

    Args:
        pixels: (S, S, 3) float32; background: (3,); colors: (C, 3).

    Returns:
        alpha: (S, S, C) in [0, 1]; residual: (S, S, C) RGB distance left after the blend.
    """
    d = (pixels - background)[:, :, None, :]  # (S, S, 1, 3)
    v = (colors - background)[None, None]  # (1, 1, C, 3)
    alpha = np.clip((d * v).sum(-1) / np.maximum((v * v).sum(-1), 1e-6), 0.0, 1.0)
    return alpha, np.linalg.norm(d - alpha[..., None] * v, axis=-1)


def detect(image: np.ndarray, shapes: tuple[str, ...] = SHAPES) -> Detection:
    """Every property of a world picture; `image` is (S, S, 3) uint8 with S >= 32. Objects are told apart among
    `shapes` (add `NOVEL_SHAPES` to recognise a learned concept)."""
    from scipy.ndimage import binary_closing, binary_fill_holes, label

    image = np.asarray(image)[..., :3]
    side = image.shape[0]
    pixels = image.astype(np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    palette = min(PALETTES, key=lambda p: np.linalg.norm(background - np.asarray(PALETTES[p])))
    mark = detect_mark(image)

    names = list(COLORS)
    alpha, residual = blend_fit(pixels, background, np.asarray([COLORS[n] for n in names], np.float32))
    nearest = np.where(alpha > 0.5, residual, np.inf).argmin(axis=-1)  # (S, S) best colour among solid fits
    best_alpha = np.take_along_axis(alpha, nearest[..., None], -1)[..., 0]
    best_residual = np.take_along_axis(residual, nearest[..., None], -1)[..., 0]
    ink = (best_alpha > 0.5) & (best_residual < COLOR_TOLERANCE)

    objects, painted_of = [], []
    cell_side = side / 3
    components, n = label(binary_closing(ink))
    for k in range(1, n + 1):
        silhouette = binary_fill_holes(components == k)
        painted = ink & silhouette
        if silhouette.sum() < MIN_AREA * side * side:
            continue
        color = names[int(np.bincount(nearest[painted], weights=best_alpha[painted], minlength=len(names)).argmax())]
        ys, xs = np.nonzero(silhouette)
        extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
        cell = (min(int(ys.mean() // cell_side), 2), min(int(xs.mean() // cell_side), 2))
        size = "large" if extent > (EXTENT["small"] + EXTENT["large"]) / 2 * cell_side * 0.9 else "small"
        objects.append(DetectedObject(classify_shape(silhouette, shapes), color, size, cell, int(silhouette.sum())))
        exact = binary_fill_holes(painted)  # no closing: keeps a star's notches out of its interior
        painted_of.append((painted, exact if exact.sum() > 0.7 * silhouette.sum() else silhouette))
    style = None
    if objects:
        style = classify_style(np.logical_or.reduce([p for p, _ in painted_of]),
                               np.logical_or.reduce([s for _, s in painted_of]))
    order = sorted(range(len(objects)), key=lambda i: objects[i].cell)
    return Detection(palette, mark, style, tuple(objects[i] for i in order))


def property_accuracy(scenes: Sequence[Scene], images: Sequence[np.ndarray]) -> dict[str, float]:
    """Share of images whose detected property equals the scene's: count, palette, mark, style, and per object
    (matched by cell) shape, colour, size and cell."""
    hits: dict[str, list[bool]] = {k: [] for k in ("count", "palette", "mark", "style", "shape", "color", "size",
                                                   "cell")}
    for scene, image in zip(scenes, images, strict=True):
        found = detect(image)
        hits["count"].append(found.count == len(scene.objects))
        hits["palette"].append(found.palette == scene.palette)
        hits["mark"].append(found.mark == scene.mark)
        hits["style"].append(found.style == scene.style)
        by_cell = {o.cell: o for o in found.objects}
        for truth in scene.objects:
            match = by_cell.get(truth.cell)
            hits["cell"].append(match is not None)
            for key in ("shape", "color", "size"):
                hits[key].append(match is not None and getattr(match, key) == getattr(truth, key))
    return {k: float(np.mean(v)) for k, v in hits.items() if v}
