"""Centerline tracing: ink that is a stroke becomes a stroked path along its medial axis.

    [doc] = trace_centerline([black_on_white])    # (S, S, 3) uint8 -> Document in the 24-unit viewBox

A stroke icon drawn with a 2-unit pen is, as pixels, a tube of constant width around a curve. Outline
tracers (vtracer, potrace) return the tube's two borders as a filled shape: twice the geometry, and a
user cannot change the line weight. Here each connected piece of ink is tested for being such a tube:
1. its skeleton (`skimage.morphology.skeletonize`) and the distance of every skeleton pixel to the
   background (the local half-width);
2. it is a stroke when the tube of the median width around the skeleton covers the piece (IoU >=
   `min_iou`) and it is at most `MAX_STROKE_WIDTH` wide; otherwise it is a filled shape and goes
   to vtracer (polygon mode), as a whole;
3. the skeleton becomes a graph (ends, junctions, chains between them); spurs shorter than the width
   are dropped; each chain is fitted by lines and cubic Béziers (`fit_chain`, split where the error is
   largest, Schneider-style);
4. the chains of a piece form one round-capped, round-joined stroked path.
`vectorize(..., method="centerline+refine")` then optimises points and widths with the soft rasterizer.
"""

from __future__ import annotations

import numpy as np

from gfx.svg.core.document import Document, Path, Style

VIEW_UNITS = 24.0
MAX_STROKE_WIDTH = VIEW_UNITS / 10
"""Wider tubes (in viewBox units) are traced as fills: bold shapes, not pen strokes."""
MIN_STROKE_AREA = 6
"""Pieces of ink smaller than this (px) are dots or noise: traced as fills without a skeleton."""
LINE_SLACK = 1.5
"""A straight segment may stray this many times further than a cubic (a line is half the bytes, and
skeletons wobble near joins and ends, where refinement corrects them)."""
NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def trace_centerline(images: list[np.ndarray], min_iou: float = 0.8, tolerance: float = 0.7) -> list[Document]:
    """Trace black-on-white (S, S, 3) uint8 images: strokes along centerlines, other ink as fills.

    Args:
        images: layer masks, black ink on white.
        min_iou: how well a tube around the skeleton must explain a piece of ink for it to be a stroke.
        tolerance: largest distance, in pixels, between a chain's skeleton pixels and its fitted curve.
    """
    return [_trace_one(image, min_iou, tolerance) for image in images]


def _trace_one(image: np.ndarray, min_iou: float, tolerance: float) -> Document:
    from scipy import ndimage

    ink = np.asarray(image)[..., :3].mean(-1) < 128
    labels, _ = ndimage.label(ink, structure=np.ones((3, 3)))
    depth = ndimage.distance_transform_edt(ink)  # px from each ink pixel centre to the nearest background pixel
    fills = np.zeros_like(ink)
    strokes: list[Path] = []
    for k, box in enumerate(ndimage.find_objects(labels), start=1):  # each piece within its bounding box
        piece = labels[box] == k
        origin = np.array([box[0].start, box[1].start])
        stroke = _stroke(piece, depth[box], origin, VIEW_UNITS / ink.shape[0], min_iou, tolerance)
        if stroke is None:
            fills[box] |= piece
        else:
            strokes.append(stroke)
    elements = []
    if fills.any():
        from gfx.svg.vectorization.tracers import VTRACER_COMPACT, trace_vtracer

        rgb = np.repeat(np.where(fills, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        [filled] = trace_vtracer([rgb], **VTRACER_COMPACT)
        elements += filled.elements
    return Document((0.0, 0.0, VIEW_UNITS, VIEW_UNITS), elements + strokes)


def _stroke(piece: np.ndarray, depth: np.ndarray, origin: np.ndarray, unit: float, min_iou: float,
            tolerance: float) -> Path | None:
    """One piece of ink (its bounding box crop; `origin` = the crop's (row, col)) as a stroked path, or
    None when it is not a tube of constant width."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    if piece.sum() < MIN_STROKE_AREA:
        return None
    pad = int(depth.max()) + 2  # room for the tube around the skeleton
    piece, depth, origin = np.pad(piece, pad), np.pad(depth, pad), origin - pad
    skeleton = skeletonize(piece)
    if not skeleton.any():
        return None
    radius = float(np.median(depth[skeleton]))
    tube = ndimage.distance_transform_edt(~skeleton) <= radius
    iou = (tube & piece).sum() / (tube | piece).sum()
    if radius < 0.75 or iou < min_iou or 2 * radius * unit > MAX_STROKE_WIDTH:  # too thin, not a tube, a blob
        return None
    commands, coords = "", []
    for chain in skeleton_chains(skeleton, min_spur=radius):
        points = (chain[:, ::-1] + origin[::-1] + 0.5) * unit  # (row, col) in the crop -> (x, y)
        cmds, xy = fit_chain(points, tolerance * unit, corners=corner_indices(points, span=max(2, round(radius))))
        commands += cmds
        coords.extend(xy)
    width = max(2 * radius - 1, 1.0) * unit
    style = Style(fill=None, stroke="#000000", stroke_width=round(width, 2), stroke_linecap="round",
                  stroke_linejoin="round")
    return Path(commands, np.round(np.asarray(coords), 2), style)


def skeleton_chains(skeleton: np.ndarray, min_spur: float = 0.0) -> list[np.ndarray]:
    """A one-pixel skeleton as chains of pixels between ends and junctions.

    Args:
        skeleton: (H, W) bool, 8-connected, one pixel wide.
        min_spur: chains with a free end shorter than this (px) are dropped, unless they are all there is
            of their piece.

    Returns:
        (N_i, 2) int arrays of (row, col), each ordered along the chain; a closed loop repeats its start.
    """
    pixels = set(zip(*np.nonzero(skeleton), strict=True))
    if not pixels:
        return []

    def neighbours(p):
        """8-neighbours, except a diagonal one also reached through a shared 4-neighbour (a staircase corner)."""
        r, c = p
        return [
            (r + dr, c + dc)
            for dr, dc in NEIGHBOURS
            if (r + dr, c + dc) in pixels and not (dr and dc and ((r + dr, c) in pixels or (r, c + dc) in pixels))
        ]

    adjacent = {p: neighbours(p) for p in pixels}
    degree = {p: len(q) for p, q in adjacent.items()}
    nodes = {p for p, d in degree.items() if d != 2}
    used: set[frozenset] = set()  # visited pixel-to-pixel steps
    chains: list[tuple[list, bool]] = []  # (pixels, has a free end)

    def walk(start, first):
        chain, prev, cur = [start, first], start, first
        used.add(frozenset((start, first)))
        while cur not in nodes and cur != start:
            step = next((q for q in adjacent[cur] if q != prev and frozenset((cur, q)) not in used), None)
            if step is None:
                break
            used.add(frozenset((cur, step)))
            chain.append(step)
            prev, cur = cur, step
        return chain

    for node in sorted(nodes):
        for q in adjacent[node]:
            if frozenset((node, q)) not in used:
                chain = walk(node, q)
                free = degree[chain[0]] <= 1 or degree[chain[-1]] <= 1
                chains.append((chain, free))
    for p in sorted(pixels):  # loops with no end or junction (a ring)
        for q in adjacent[p]:
            if frozenset((p, q)) not in used:
                chains.append((walk(p, q), False))
    # drop spurs (short chains hanging off a junction), then chains of junction clusters (1 step)
    kept = [c for c, free in chains if not (free and len(c) < min_spur and _touches_junction(c, degree))]
    kept = [c for c in kept if len(c) > 2 or not all(degree[p] > 2 for p in c)] or [c for c, _ in chains]
    return [np.asarray(c) for c in kept]


def _touches_junction(chain: list, degree: dict) -> bool:
    return degree[chain[0]] > 2 or degree[chain[-1]] > 2


def corner_indices(points: np.ndarray, span: int, min_turn: float = 50.0) -> list[int]:
    """Indices where an ordered chain turns by more than `min_turn` degrees over `span` points each side."""
    n = len(points)
    if n < 2 * span + 1:
        return []
    before = points[span : n - span] - points[: n - 2 * span]
    after = points[2 * span :] - points[span : n - span]
    cos = (before * after).sum(1) / np.maximum(np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1), 1e-9)
    turn = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    corners: list[int] = []
    for i in np.argsort(-turn):  # strongest turns first, at least `span` apart
        if turn[i] < min_turn:
            break
        if all(abs(i + span - c) > span for c in corners):
            corners.append(int(i + span))
    return sorted(corners)


def fit_chain(points: np.ndarray, tolerance: float, corners: list[int] = ()) -> tuple[str, list[float]]:
    """Lines and cubics through an ordered point chain, with sharp turns at `corners`.

    Args:
        points: (N, 2) float, N >= 1.
        tolerance: largest distance of a point from its fitted segment.
        corners: indices of points the curve must pass through with a corner (see `corner_indices`).

    Returns:
        (commands "M" + "L"/"C"..., flat coordinates) of one subpath.
    """
    commands, coords = "M", [*points[0]]
    if len(points) == 1:
        return "ML", [*points[0], *points[0]]
    bounds = [0, *corners, len(points) - 1]
    for a, b in zip(bounds, bounds[1:], strict=False):
        for kind, ctrl in _fit(points[a : b + 1], tolerance):
            commands += kind
            coords.extend(ctrl.reshape(-1))
    return commands, coords


def _fit(points: np.ndarray, tolerance: float, depth: int = 0) -> list[tuple[str, np.ndarray]]:
    """Segments ("L", end) or ("C", [c1, c2, end]) from points[0] to points[-1]."""
    a, b = points[0], points[-1]
    if len(points) <= 2 or _line_error(points, a, b) <= LINE_SLACK * tolerance:
        return [("L", b)]
    if len(points) >= 4:
        t = _chord_parameters(points)
        control = _fit_cubic(points, t)
        for _ in range(2):  # one Newton step per point on the parameters tightens the fit
            t = _reparameterize(control, points, t)
            control = _fit_cubic(points, t)
        errors = np.linalg.norm(_bezier(control, t) - points, axis=1)
        if errors.max() <= tolerance or depth >= 12:
            return [("C", control[1:])]
        split = int(np.clip(errors.argmax(), 1, len(points) - 2))
    else:
        split = len(points) // 2
    return _fit(points[: split + 1], tolerance, depth + 1) + _fit(points[split:], tolerance, depth + 1)


def _line_error(points, a, b) -> float:
    d = b - a
    length = float(np.hypot(*d))
    if length < 1e-9:
        return float(np.linalg.norm(points - a, axis=1).max())
    return float(np.abs((points[:, 0] - a[0]) * d[1] - (points[:, 1] - a[1]) * d[0]).max() / length)


def _chord_parameters(points: np.ndarray) -> np.ndarray:
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    return t / t[-1] if t[-1] > 0 else np.linspace(0, 1, len(points))


def _bernstein(t: np.ndarray) -> np.ndarray:
    s = 1 - t
    return np.stack([s**3, 3 * s**2 * t, 3 * s * t**2, t**3], axis=1)  # (N, 4)


def _bezier(control: np.ndarray, t: np.ndarray) -> np.ndarray:
    return _bernstein(t) @ control


def _fit_cubic(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Least-squares inner control points with fixed ends: (4, 2)."""
    basis = _bernstein(t)
    ends = np.outer(basis[:, 0], points[0]) + np.outer(basis[:, 3], points[-1])
    inner, *_ = np.linalg.lstsq(basis[:, 1:3], points - ends, rcond=None)
    return np.vstack([points[0], inner, points[-1]])


def _reparameterize(control: np.ndarray, points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """One Newton step of each parameter toward the curve point nearest its data point."""
    d1 = 3 * np.diff(control, axis=0)  # derivative control points (3, 2)
    d2 = 2 * np.diff(d1, axis=0)  # (2, 2)
    s = 1 - t
    p = _bezier(control, t)
    dp = (s**2)[:, None] * d1[0] + (2 * s * t)[:, None] * d1[1] + (t**2)[:, None] * d1[2]
    ddp = s[:, None] * d2[0] + t[:, None] * d2[1]
    diff = p - points
    numerator = (diff * dp).sum(1)
    denominator = (dp * dp).sum(1) + (diff * ddp).sum(1)
    step = np.where(np.abs(denominator) > 1e-12, numerator / np.where(denominator == 0, 1, denominator), 0.0)
    return np.clip(t - step, 0, 1)
