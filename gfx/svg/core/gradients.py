"""Gradient paint servers read from SVG: `<linearGradient>`, `<radialGradient>`, their `href` chains and stops.

Plain numpy. `read_gradient` resolves one `url(#id)` paint for one element into a `LinearGradient` or
`RadialGradient` in that element's user space (`gradientUnits="objectBoundingBox"` is resolved against the
element's bounding box, so the result is always user-space), following SVG: attributes and stops a gradient
lacks come from the one its `href` names (a chain, cycles ignored); offsets are clamped to [0, 1] and made
non-decreasing; `stop-color` may have an alpha, which multiplies `stop-opacity`. Degenerate gradients become
what SVG paints instead: no stops -> nothing, one stop (or zero length / radius) -> the last stop's colour.
"""

from __future__ import annotations

import math

import numpy as np

from gfx.svg.core.color import parse_color
from gfx.svg.core.document import SPREADS, LinearGradient, Paint, RadialGradient, Stop, SVGError
from gfx.svg.core.numbers import parse_length, parse_numbers
from gfx.svg.core.transform import IDENTITY, compose, matrix_array, matrix_values, parse_transform
from gfx.svg.core.xml_tree import Node, href_target

GRADIENT_TAGS = ("linearGradient", "radialGradient")
MAX_CHAIN = 32
"""At most this many gradients are followed along an `href` chain."""

_DEFAULTS = {"x1": "0%", "y1": "0%", "x2": "100%", "y2": "0%", "cx": "50%", "cy": "50%", "r": "50%"}


def read_gradient(
    node: Node,
    ids: dict[str, Node],
    box: tuple[float, float, float, float] | None,
    view_box: tuple[float, float, float, float],
    source: str,
) -> tuple[Paint, float]:
    """The paint a gradient element gives one element, and an opacity factor for it.

    Args:
        node: the `<linearGradient>` or `<radialGradient>` a `url(#id)` names.
        ids: the document's id index (for `href` chains).
        box: the painted element's bounding box `(min_x, min_y, max_x, max_y)` in its user space, or None.
        view_box: the document's viewBox (percentages of user-space gradients refer to it).
        source: the input's name for messages.

    Returns:
        (paint, opacity): a gradient in the element's user space with opacity 1; or a solid colour and its
        alpha where SVG paints one colour; or (None, 1.0) where it paints nothing.

    Raises:
        SVGError: a malformed number, transform or stop colour.
    """
    chain = _chain(node, ids)
    tag = node.name

    def attr(name: str) -> str | None:
        return next((n.attrs[name] for n in chain if name in n.attrs), None)

    what = f"{source}: <{tag}>"
    stops = _stops(next((n for n in chain if any(c.name == "stop" for c in n.children)), node), what)
    if not stops:
        return None, 1.0
    last = (stops[-1].color, stops[-1].opacity)
    if len(stops) == 1:
        return last
    user = in_user_space(node, ids)
    if user:
        width, height = view_box[2], view_box[3]
        references = {"x": width, "y": height, "r": math.hypot(width, height) / math.sqrt(2)}
    elif box is None or box[2] <= box[0] or box[3] <= box[1]:
        return None, 1.0  # objectBoundingBox units on an element with an empty box: SVG paints nothing
    else:
        references = {"x": 1.0, "y": 1.0, "r": 1.0}

    def length(name: str, default: str | None = None) -> float:
        text = attr(name) or default or _DEFAULTS[name]
        axis = "r" if name == "r" else "x" if "x" in name else "y"
        return parse_length(text, f"{what} {name}", references[axis])

    matrix = IDENTITY
    if (text := attr("gradientTransform")) is not None:
        matrix = parse_transform(text, f"{what} gradientTransform")
    if not user:
        x0, y0, x1, y1 = box
        matrix = compose(np.array([[x1 - x0, 0.0, x0], [0.0, y1 - y0, y0]]), matrix)
    if abs(np.linalg.det(matrix[:, :2])) < 1e-300:
        return last
    spread = (attr("spreadMethod") or "pad").strip()
    spread = spread if spread in SPREADS else "pad"
    transform = matrix_values(matrix)
    if tag == "linearGradient":
        x1, y1, x2, y2 = (length(n) for n in ("x1", "y1", "x2", "y2"))
        if x1 == x2 and y1 == y2:
            return last
        return LinearGradient(x1, y1, x2, y2, stops, spread, transform), 1.0
    cx, cy, r = length("cx"), length("cy"), length("r")
    if r <= 0:
        return last if r == 0 else (None, 1.0)  # a negative radius is an error: nothing is painted
    fx, fy = length("fx", attr("cx") or _DEFAULTS["cx"]), length("fy", attr("cy") or _DEFAULTS["cy"])
    return RadialGradient(cx, cy, r, fx, fy, stops, spread, transform), 1.0


def in_user_space(node: Node, ids: dict[str, Node]) -> bool:
    """True when a gradient's coordinates are in user space (`gradientUnits="userSpaceOnUse"`, maybe inherited
    along its `href` chain), False when they are fractions of the painted element's bounding box."""
    units = next((n.attrs["gradientUnits"] for n in _chain(node, ids) if "gradientUnits" in n.attrs), "")
    return units.strip() == "userSpaceOnUse"


def _chain(node: Node, ids: dict[str, Node]) -> list[Node]:
    """The gradient and those its `href`s name, in order, stopping at a cycle, a non-gradient or MAX_CHAIN."""
    chain = [node]
    while len(chain) < MAX_CHAIN:
        target = ids.get(href_target(chain[-1]) or "")
        if target is None or target.name not in GRADIENT_TAGS or any(target is n for n in chain):
            break
        chain.append(target)
    return chain


def _stops(node: Node, what: str) -> tuple[Stop, ...]:
    stops, previous = [], 0.0
    for child in node.children:
        if child.name != "stop":
            continue
        declared = dict(child.attrs)
        for declaration in declared.pop("style", "").split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                declared[name.strip().lower()] = value.strip()
        offset = _fraction(declared.get("offset", "0"), f"{what} <stop> offset")
        previous = max(previous, min(max(offset, 0.0), 1.0))
        text = declared.get("stop-color", "black").strip()
        if text.lower() == "currentcolor":
            text = declared.get("color", "black")
        try:
            color, alpha = parse_color(text)
        except SVGError as err:
            raise SVGError(f"{what} <stop> stop-color {err}") from None
        opacity = min(
            max(_fraction(declared.get("stop-opacity", "1"), f"{what} <stop> stop-opacity"), 0.0), 1.0
        )
        stops.append(Stop(previous, color, opacity * alpha))
    return tuple(stops)


def _fraction(text: str, what: str) -> float:
    """A number or a percentage as a fraction."""
    text = text.strip()
    values = parse_numbers(text[:-1] if text.endswith("%") else text, what)
    if len(values) != 1:
        raise SVGError(f"{what} {text[:40]!r} is not a number")
    return values[0] / 100 if text.endswith("%") else values[0]


# --------------------------------------------------------------------------------------- canonical forms


def linear_in_document(g: LinearGradient) -> LinearGradient:
    """The same gradient with the identity transform: its end points moved so the colour at every document
    point is unchanged (a linear gradient stays linear under any affine map).

    Raises:
        ValueError, numpy.linalg.LinAlgError: a zero-length gradient or a singular transform.
    """
    (a, c, e), (b, d, f) = matrix_array(g.transform)
    A = np.array([[a, c], [b, d]])
    p1 = np.array([g.x1, g.y1])
    direction = np.array([g.x2 - g.x1, g.y2 - g.y1])
    if not direction @ direction > 0:
        raise ValueError("a linear gradient of zero length")
    gradient = np.linalg.solve(A.T, direction) / (direction @ direction)  # d t / d (document point)
    start = A @ p1 + [e, f]
    end = start + gradient / (gradient @ gradient)
    return LinearGradient(*map(float, (*start, *end)), g.stops, g.spread)


def radial_ellipse(g: RadialGradient) -> tuple[tuple[float, float], float, float, float, tuple[float, float]]:
    """A radial gradient as document-space geometry: (center, rx, ry, angle, focal).

    The gradient's circle maps to the ellipse with semi-axes `rx >= ry`, the `rx` axis at `angle` degrees in
    [0, 180) from the x axis; `focal` is the focal point in the document. `radial_from_ellipse` inverts it.
    """
    m = matrix_array(g.transform)
    center = m[:, :2] @ [g.cx, g.cy] + m[:, 2]
    focal = m[:, :2] @ [g.fx, g.fy] + m[:, 2]
    u, sigma, _ = np.linalg.svd(m[:, :2] * g.r)
    angle = math.degrees(math.atan2(u[1, 0], u[0, 0])) % 180.0
    return (
        (float(center[0]), float(center[1])),
        float(sigma[0]),
        float(sigma[1]),
        angle,
        (float(focal[0]), float(focal[1])),
    )


def radial_from_ellipse(
    center: tuple[float, float],
    rx: float,
    ry: float,
    angle: float,
    focal: tuple[float, float],
    stops,
    spread: str = "pad",
) -> RadialGradient | None:
    """The `RadialGradient` of `radial_ellipse`'s geometry (unit circle at the origin, mapped by the transform);
    None when a radius is 0 (SVG then paints the last stop's colour)."""
    if rx <= 0 or ry <= 0:
        return None
    t = math.radians(angle)
    linear = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]) @ np.diag([rx, ry])
    fx, fy = np.linalg.solve(linear, np.subtract(focal, center))
    matrix = np.hstack([linear, np.array(center, dtype=np.float64).reshape(2, 1)])
    return RadialGradient(0.0, 0.0, 1.0, float(fx), float(fy), tuple(stops), spread, matrix_values(matrix))


def restrict_linear(g: LinearGradient, box: tuple[float, float, float, float]) -> LinearGradient:
    """A padded, untransformed linear gradient with the same colours over `box` (min_x, min_y, max_x, max_y),
    its end points within the box's reach: the part of the gradient the box sees, with the stops remapped."""
    start, end = np.array([g.x1, g.y1]), np.array([g.x2, g.y2])
    direction = end - start
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
    t = (corners - start) @ direction / (direction @ direction)
    t0, t1 = float(t.min()), float(t.max())
    if g.spread != "pad" or t1 - t0 <= 0:
        return g
    middle = (corners.mean(axis=0) - start) @ direction / (direction @ direction)
    center = corners.mean(axis=0)
    p0, p1 = center + (t0 - middle) * direction, center + (t1 - middle) * direction
    inner = [s for s in g.stops if t0 < s.offset < t1]
    stops = [
        stop_at(g.stops, t0, 0.0),
        *(Stop((s.offset - t0) / (t1 - t0), s.color, s.opacity) for s in inner),
        stop_at(g.stops, t1, 1.0),
    ]
    return LinearGradient(*map(float, (*p0, *p1)), tuple(stops), "pad")


def stop_at(stops: tuple[Stop, ...], t: float, offset: float) -> Stop:
    """The padded colour of `stops` at `t`, as a stop at `offset` (colour and opacity interpolated linearly)."""
    if t <= stops[0].offset:
        return Stop(offset, stops[0].color, stops[0].opacity)
    for a, b in zip(stops[:-1], stops[1:], strict=True):
        if t <= b.offset:
            w = 0.0 if b.offset == a.offset else (t - a.offset) / (b.offset - a.offset)
            ca, cb = (np.array([int(s.color[i : i + 2], 16) for i in (1, 3, 5)]) for s in (a, b))
            rgb = np.rint(ca + w * (cb - ca)).astype(int)
            return Stop(
                offset, "#" + "".join(f"{v:02x}" for v in rgb), a.opacity + w * (b.opacity - a.opacity)
            )
    return Stop(offset, stops[-1].color, stops[-1].opacity)
