"""Path geometry: any element as absolute M/L/C/Z commands, affine maps, subpath surgery.

Plain numpy, no torch. `element_to_path` converts any element to an equivalent path of absolute
M/L/C/Z commands (H/V -> L, Q/T -> C by degree elevation, S -> C by reflection, A -> cubics via
`arc_to_cubics`, circles/ellipses/rounded rects by `KAPPA` cubics); `transform_element` applies an
affine map keeping the element's type when it can (and maps the gradients, clip paths and masks of its
style, `transform_style`); `bounding_box` bounds geometry; `split_subpaths`/`join_subpaths` cut a path at its
moves and glue pieces back. `gfx.svg.core.normalize` and `gfx.svg.core.parse` build on these.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from gfx.svg.core.document import (
    ARITY,
    Circle,
    ClipPath,
    Element,
    Ellipse,
    Line,
    LinearGradient,
    Mask,
    Path,
    Polygon,
    Polyline,
    RadialGradient,
    Rect,
    Style,
    SVGError,
)
from gfx.svg.core.transform import IDENTITY, compose, matrix_array, matrix_values

KAPPA = 4.0 / 3.0 * (math.sqrt(2.0) - 1.0)
"""Control-point distance (in radii) of the cubic closest to a quarter circle."""


# ---------------------------------------------------------------------------------------------- paths


def iter_commands(path: Path) -> Iterator[tuple[str, tuple[float, ...]]]:
    """Yield `(command, numbers)` for each command of a path (absolute commands, see `ARITY`)."""
    coords = path.coords.tolist()
    i = 0
    for cmd in path.commands:
        n = ARITY[cmd]
        yield cmd, tuple(coords[i : i + n])
        i += n
    if i != len(coords):
        raise SVGError(f"path has {len(coords)} numbers but its commands {path.commands[:20]!r} take {i}")


def arc_to_cubics(
    start: tuple[float, float],
    rx: float,
    ry: float,
    rotation: float,
    large_arc: bool,
    sweep: bool,
    end: tuple[float, float],
) -> np.ndarray:
    """Approximate an SVG elliptical arc by cubic Béziers of at most 90 degrees each.

    Follows the SVG implementation notes (endpoint to center parameterization, out-of-range radii
    scaled up). Arguments are in SVG's `A` order; `rotation` is in degrees.

    Returns:
        (K, 6) float64, one row `c1x c1y c2x c2y x y` per cubic. K = 0 when the end points coincide
        (SVG omits such an arc); a zero radius gives one straight cubic (SVG draws a line), and so do
        radii too extreme for float64 against the chord.
    """
    x1, y1 = float(start[0]), float(start[1])
    x2, y2 = float(end[0]), float(end[1])
    if x1 == x2 and y1 == y2:
        return np.zeros((0, 6))
    line = np.array(
        [[x1 + (x2 - x1) / 3, y1 + (y2 - y1) / 3, x1 + 2 * (x2 - x1) / 3, y1 + 2 * (y2 - y1) / 3, x2, y2]]
    )
    rx, ry = abs(float(rx)), abs(float(ry))
    if rx == 0 or ry == 0:
        return line
    phi = math.radians(float(rotation) % 360.0)
    cos_p, sin_p = math.cos(phi), math.sin(phi)
    dx, dy = (x1 - x2) / 2, (y1 - y2) / 2
    x1p, y1p = cos_p * dx + sin_p * dy, -sin_p * dx + cos_p * dy
    scale = (x1p / rx) * (x1p / rx) + (y1p / ry) * (y1p / ry)
    if scale > 1:
        rx, ry = rx * math.sqrt(scale), ry * math.sqrt(scale)
    # the center's distance factor, from the SVG notes' formula divided through by (rx ry)^2
    a2, b2 = (y1p / ry) * (y1p / ry), (x1p / rx) * (x1p / rx)
    if not 0 < a2 + b2 < math.inf or not math.isfinite(rx * ry):
        return line  # radii so extreme against the chord (ratio ~1e150) that no float arc exists
    coef = math.sqrt(max(0.0, (1.0 - a2 - b2) / (a2 + b2)))
    if bool(large_arc) == bool(sweep):
        coef = -coef
    cxp, cyp = coef * rx * y1p / ry, -coef * ry * x1p / rx
    cx = cos_p * cxp - sin_p * cyp + (x1 + x2) / 2
    cy = sin_p * cxp + cos_p * cyp + (y1 + y2) / 2
    ux, uy = (x1p - cxp) / rx, (y1p - cyp) / ry
    vx, vy = (-x1p - cxp) / rx, (-y1p - cyp) / ry
    theta = math.atan2(uy, ux)
    delta = math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
    if sweep and delta < 0:
        delta += 2 * math.pi
    elif not sweep and delta > 0:
        delta -= 2 * math.pi
    n = max(1, math.ceil(abs(delta) / (math.pi / 2) - 1e-9))
    step = delta / n
    t = 4.0 / 3.0 * math.tan(step / 4)

    def on_ellipse(ux: float, uy: float) -> tuple[float, float]:  # unit circle -> the ellipse
        ex, ey = ux * rx, uy * ry
        return cos_p * ex - sin_p * ey + cx, sin_p * ex + cos_p * ey + cy

    rows = []
    cos0, sin0 = math.cos(theta), math.sin(theta)
    for i in range(1, n + 1):
        cos1, sin1 = math.cos(theta + step * i), math.sin(theta + step * i)
        end_point = on_ellipse(cos1, sin1) if i < n else (x2, y2)  # land exactly on the end point
        rows.append(
            (
                *on_ellipse(cos0 - t * sin0, sin0 + t * cos0),
                *on_ellipse(cos1 + t * sin1, sin1 - t * cos1),
                *end_point,
            )
        )
        cos0, sin0 = cos1, sin1
    return np.array(rows)


class _PathBuilder:
    """Accumulates absolute commands and numbers."""

    def __init__(self):
        self.commands: list[str] = []
        self.coords: list[float] = []

    def add(self, cmd: str, *numbers: float) -> None:
        self.commands.append(cmd)
        self.coords.extend(numbers)

    def path(self, style: Style) -> Path:
        return Path("".join(self.commands), np.array(self.coords, dtype=np.float64), style)


def element_to_path(element: Element) -> Path:
    """Convert any element to an equivalent `Path` of absolute M/L/C/Z commands.

    H/V become L, Q/T become C by exact degree elevation, S becomes C by reflection, A becomes
    cubics of at most 90 degrees (a zero radius gives L, coincident end points drop the arc).
    Drawing right after Z gets an explicit M at the closed subpath's start. Circles, ellipses and
    rounded rects use KAPPA cubics starting at the rightmost (rects: top-left) point, clockwise on
    screen; rects and polygons end with Z. Shapes SVG does not render (zero radius or size) give an
    empty path.
    """
    if isinstance(element, Path):
        return _path_to_normal(element)
    b = _PathBuilder()
    if isinstance(element, Circle):
        _add_ellipse(b, element.cx, element.cy, element.r, element.r)
    elif isinstance(element, Ellipse):
        _add_ellipse(b, element.cx, element.cy, element.rx, element.ry)
    elif isinstance(element, Rect):
        _add_rect(b, element)
    elif isinstance(element, Line):
        b.add("M", element.x1, element.y1)
        b.add("L", element.x2, element.y2)
    elif isinstance(element, Polyline):  # Polygon included
        for i, (x, y) in enumerate(element.points.tolist()):
            b.add("L" if i else "M", x, y)
        if isinstance(element, Polygon) and len(element.points):
            b.add("Z")
    else:
        raise TypeError(f"cannot convert {type(element).__name__} to a path")
    return b.path(element.style)


def _path_to_normal(path: Path) -> Path:
    b = _PathBuilder()
    cx = cy = sx = sy = 0.0  # current point, subpath start
    prev = ""  # previous command, for the S/T reflection rules
    c2x = c2y = qx = qy = 0.0  # last cubic second control point, last quadratic control point
    for cmd, a in iter_commands(path):
        if cmd == "M":
            b.add("M", *a)
            cx, cy = sx, sy = a
            prev = cmd
            continue
        if cmd == "Z":
            if prev != "Z":
                b.add("Z")
            cx, cy = sx, sy
            prev = cmd
            continue
        if prev == "Z":
            b.add("M", cx, cy)
        if cmd == "L":
            b.add("L", *a)
        elif cmd == "H":
            b.add("L", a[0], cy)
            a = (a[0], cy)
        elif cmd == "V":
            b.add("L", cx, a[0])
            a = (cx, a[0])
        elif cmd in "CS":
            if cmd == "S":
                r1 = (2 * cx - c2x, 2 * cy - c2y) if prev in "CS" else (cx, cy)
                a = (*r1, *a)
            b.add("C", *a)
            c2x, c2y = a[2], a[3]
        elif cmd in "QT":
            if cmd == "T":
                qx, qy = (2 * cx - qx, 2 * cy - qy) if prev in "QT" else (cx, cy)
                x, y = a
            else:
                qx, qy, x, y = a
            b.add(
                "C",
                cx + 2 / 3 * (qx - cx),
                cy + 2 / 3 * (qy - cy),
                x + 2 / 3 * (qx - x),
                y + 2 / 3 * (qy - y),
                x,
                y,
            )
        elif cmd == "A":
            rx, ry, rot, large, sweep, x, y = a
            if rx == 0 or ry == 0:
                b.add("L", x, y)
            else:
                for row in arc_to_cubics((cx, cy), rx, ry, rot, bool(large), bool(sweep), (x, y)).tolist():
                    b.add("C", *row)
        cx, cy = a[-2], a[-1]
        prev = cmd
    return b.path(path.style)


def _add_ellipse(b: _PathBuilder, cx: float, cy: float, rx: float, ry: float) -> None:
    if rx <= 0 or ry <= 0:
        return
    kx, ky = KAPPA * rx, KAPPA * ry
    b.add("M", cx + rx, cy)
    b.add("C", cx + rx, cy + ky, cx + kx, cy + ry, cx, cy + ry)
    b.add("C", cx - kx, cy + ry, cx - rx, cy + ky, cx - rx, cy)
    b.add("C", cx - rx, cy - ky, cx - kx, cy - ry, cx, cy - ry)
    b.add("C", cx + kx, cy - ry, cx + rx, cy - ky, cx + rx, cy)
    b.add("Z")


def _add_rect(b: _PathBuilder, r: Rect) -> None:
    x, y, w, h = r.x, r.y, r.width, r.height
    if w <= 0 or h <= 0:
        return
    rx, ry = min(max(r.rx, 0.0), w / 2), min(max(r.ry, 0.0), h / 2)
    if rx == 0 or ry == 0:
        b.add("M", x, y)
        b.add("L", x + w, y)
        b.add("L", x + w, y + h)
        b.add("L", x, y + h)
        b.add("Z")
        return
    kx, ky = KAPPA * rx, KAPPA * ry
    b.add("M", x + rx, y)
    if w > 2 * rx:
        b.add("L", x + w - rx, y)
    b.add("C", x + w - rx + kx, y, x + w, y + ry - ky, x + w, y + ry)
    if h > 2 * ry:
        b.add("L", x + w, y + h - ry)
    b.add("C", x + w, y + h - ry + ky, x + w - rx + kx, y + h, x + w - rx, y + h)
    if w > 2 * rx:
        b.add("L", x + rx, y + h)
    b.add("C", x + rx - kx, y + h, x, y + h - ry + ky, x, y + h - ry)
    if h > 2 * ry:
        b.add("L", x, y + ry)
    b.add("C", x, y + ry - ky, x + rx - kx, y, x + rx, y)
    b.add("Z")


# ----------------------------------------------------------------------------------------- transforms


def transform_element(element: Element, matrix: np.ndarray, memo: dict | None = None) -> Element:
    """Apply an affine map, keeping the element's type when the map allows it.

    Lines, polylines and polygons keep their type under any map; rects and ellipses under axis-aligned
    maps (no rotation or skew); circles under similarities (an axis-aligned non-uniform scale makes an
    ellipse). Anything else becomes a `Path`. Path arcs stay arcs under similarities and become cubics
    otherwise; H/V stay H/V under axis-aligned maps. Stroke width is scaled by sqrt(|det|); the style's
    gradients, clip paths and masks are mapped too (`transform_style`).

    Args:
        element: any element (not modified).
        matrix: (2, 3) float64 `[[a, c, e], [b, d, f]]`, SVG's `matrix(a b c d e f)`.
        memo: optional dict shared across calls with the same `matrix`, so a clip path or mask that many
            elements share is mapped once (and stays shared).

    Returns:
        A new element.
    """
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    a, c, e = m[0].tolist()
    b, d, f = m[1].tolist()
    det = a * d - b * c
    if not np.all(np.isfinite(m)):
        raise SVGError(f"transform {m.ravel().tolist()} is not finite")
    if np.array_equal(m, IDENTITY):
        return _copy(element)
    style = transform_style(element.style, m, memo)
    if style.stroke_width != 0 and abs(det) != 1:
        style = style.replace(stroke_width=style.stroke_width * math.sqrt(abs(det)))
    axis, similar = _map_kind(m)

    def point(x: float, y: float) -> tuple[float, float]:
        return a * x + c * y + e, b * x + d * y + f

    if isinstance(element, Path):
        return _transform_path(element, m, axis, similar, style)
    if isinstance(element, Line):
        return Line(*point(element.x1, element.y1), *point(element.x2, element.y2), style=style)
    if isinstance(element, Polyline):  # Polygon included
        return type(element)(element.points @ m[:, :2].T + m[:, 2], style=style)
    if isinstance(element, Circle) and similar:
        return Circle(*point(element.cx, element.cy), element.r * math.sqrt(abs(det)), style=style)
    if isinstance(element, Circle | Ellipse) and axis:
        rx, ry = (element.r, element.r) if isinstance(element, Circle) else (element.rx, element.ry)
        return Ellipse(*point(element.cx, element.cy), rx * abs(a), ry * abs(d), style=style)
    if isinstance(element, Rect) and axis:
        x0, y0 = point(element.x, element.y)
        x1, y1 = point(element.x + element.width, element.y + element.height)
        return Rect(
            min(x0, x1),
            min(y0, y1),
            abs(x1 - x0),
            abs(y1 - y0),
            element.rx * abs(a),
            element.ry * abs(d),
            style=style,
        )
    return _transform_path(element_to_path(element), m, axis, similar, style)


def _copy(element: Element) -> Element:
    """A copy with its own arrays; the (immutable) style is shared."""
    out = copy.copy(element)
    if isinstance(out, Path):
        out.coords = out.coords.copy()
    elif isinstance(out, Polyline):
        out.points = out.points.copy()
    return out


def transform_style(style: Style, matrix: np.ndarray, memo: dict | None = None) -> Style:
    """`style` with its gradients, clip paths and masks mapped by the (2, 3) `matrix` (stroke width unchanged).

    `memo` (optional) maps id(clip path or mask) -> its mapped copy, for calls that share `matrix`.
    """
    if (
        isinstance(style.fill, str | None)
        and isinstance(style.stroke, str | None)
        and not style.clip + style.mask
    ):
        return style
    memo = {} if memo is None else memo
    changes = {}
    for name in ("fill", "stroke"):
        paint = getattr(style, name)
        if isinstance(paint, LinearGradient | RadialGradient):
            changes[name] = dataclasses.replace(
                paint, transform=matrix_values(compose(matrix, matrix_array(paint.transform)))
            )
    if style.clip:
        changes["clip"] = tuple(_memo(memo, c, lambda c: _transform_clip(c, matrix)) for c in style.clip)
    if style.mask:
        changes["mask"] = tuple(
            _memo(memo, k, lambda k: _transform_mask(k, matrix, memo)) for k in style.mask
        )
    return style.replace(**changes)


def _memo(memo: dict, key, make):
    if id(key) not in memo:
        memo[id(key)] = (key, make(key))  # keep the key alive, so its id is not reused
    return memo[id(key)][1]


def _transform_clip(clip: ClipPath, matrix: np.ndarray) -> ClipPath:
    return ClipPath(tuple(_transform_path(p, matrix, *_map_kind(matrix), p.style) for p in clip.paths))


def _transform_mask(mask: Mask, matrix: np.ndarray, memo: dict) -> Mask:
    x, y, w, h = mask.region
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]]) @ matrix[:, :2].T + matrix[:, 2]
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    elements = tuple(transform_element(e, matrix, memo) for e in mask.elements)
    return Mask(elements, (float(x0), float(y0), float(x1 - x0), float(y1 - y0)))


def _map_kind(m: np.ndarray) -> tuple[bool, bool]:
    """(axis-aligned, similarity) of a (2, 3) map, as `transform_element` decides them."""
    (a, c, _), (b, d, _) = m.tolist()
    tol = 1e-9 * max(abs(a), abs(b), abs(c), abs(d), 1e-300)
    axis = abs(b) <= tol and abs(c) <= tol
    similar = (abs(a - d) <= tol and abs(b + c) <= tol) or (abs(a + d) <= tol and abs(b - c) <= tol)
    return axis, similar


def bounding_box(elements: list[Element]) -> tuple[float, float, float, float] | None:
    """`(min_x, min_y, max_x, max_y)` over the elements' geometry, or None when there is none.

    Bounds the control points of each element as M/L/C/Z (`element_to_path`): exact for lines, rects,
    circles and ellipses, and what cairosvg (the reference renderer) uses for objectBoundingBox units.
    """
    points = [element_to_path(e).coords.reshape(-1, 2) for e in elements]
    points = [p for p in points if len(p)]
    if not points:
        return None
    stacked = np.concatenate(points)
    (x0, y0), (x1, y1) = stacked.min(axis=0), stacked.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _transform_path(path: Path, m: np.ndarray, axis: bool, similar: bool, style: Style) -> Path:
    a, c, e = m[0].tolist()
    b, d, f = m[1].tolist()
    flip = a * d - b * c < 0

    def point(x: float, y: float) -> tuple[float, float]:
        return a * x + c * y + e, b * x + d * y + f

    out = _PathBuilder()
    cx = cy = sx = sy = 0.0
    for cmd, n in iter_commands(path):
        if cmd in "MLT":
            out.add(cmd, *point(*n))
        elif cmd in "SQ":
            out.add(cmd, *point(n[0], n[1]), *point(n[2], n[3]))
        elif cmd == "C":
            out.add(cmd, *point(n[0], n[1]), *point(n[2], n[3]), *point(n[4], n[5]))
        elif cmd == "H":
            out.add("H", a * n[0] + e) if axis else out.add("L", *point(n[0], cy))
            n = (n[0], cy)
        elif cmd == "V":
            out.add("V", d * n[0] + f) if axis else out.add("L", *point(cx, n[0]))
            n = (cx, n[0])
        elif cmd == "A":
            rx, ry, rot, large, sweep, x, y = n
            if similar:
                scale = math.hypot(a, b)
                phi = math.radians(rot)
                u = (a * math.cos(phi) + c * math.sin(phi), b * math.cos(phi) + d * math.sin(phi))
                angle = math.degrees(math.atan2(u[1], u[0])) % 360.0
                out.add(
                    "A", rx * scale, ry * scale, angle, large, (1.0 - sweep) if flip else sweep, *point(x, y)
                )
            elif rx == 0 or ry == 0:
                out.add("L", *point(x, y))
            else:
                for row in arc_to_cubics((cx, cy), rx, ry, rot, bool(large), bool(sweep), (x, y)):
                    out.add("C", *point(row[0], row[1]), *point(row[2], row[3]), *point(row[4], row[5]))
        elif cmd == "Z":
            out.add("Z")
            cx, cy = sx, sy
            continue
        cx, cy = n[-2], n[-1]
        if cmd == "M":
            sx, sy = cx, cy
    return out.path(style)


# ------------------------------------------------------------------------------------------ subpaths


def split_subpaths(path: Path) -> list[Path]:
    """Split a path into one `Path` per subpath, each starting with its M (same style)."""
    bounds: list[tuple[int, int]] = []  # (command index, coordinate index) where each subpath starts
    i = 0
    for k, cmd in enumerate(path.commands):
        if cmd == "M" or not bounds:
            bounds.append((k, i))
        i += ARITY[cmd]
    bounds.append((len(path.commands), i))
    return [
        Path(path.commands[k0:k1], path.coords[i0:i1].copy(), path.style)
        for (k0, i0), (k1, i1) in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def join_subpaths(pieces: list[Path], style: Style) -> Path:
    """Concatenate subpaths into one path with the given style."""
    coords = np.concatenate([p.coords for p in pieces]) if pieces else np.zeros(0)
    return Path("".join(p.commands for p in pieces), coords, style)
