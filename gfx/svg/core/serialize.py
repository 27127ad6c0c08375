"""Write a `Document` as compact SVG text.

Plain numpy, no torch. One element per line, fixed decimals with trailing zeros and the leading `0`
of `0.5` trimmed, attributes equal to SVG defaults omitted, path data in absolute commands. Every
`Style` field that differs from its default is written, even when it paints nothing (a stroke width
without a stroke), so `parse_svg(to_svg(doc))` gives back `doc` within the rounding.

Gradients, clip paths and masks go into one `<defs>` (ids `g0`, `c0`, `m0`, ..., each written once), all in
user space (`gradientUnits`, `maskUnits` "userSpaceOnUse"). A run of consecutive elements that share a clip
path or a mask is wrapped in one `<g clip-path="url(#c0)">` / `<g mask="url(#m0)">`, clip paths outside masks
(a masked run in a scaled-up user space, `mask_scale`, which keeps cairosvg's masks sharp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

import numpy as np

from gfx.svg.core.document import (
    ARITY,
    ELEMENT_TAGS,
    IDENTITY_MATRIX,
    Circle,
    ClipPath,
    Document,
    Element,
    Ellipse,
    Line,
    LinearGradient,
    Mask,
    Path,
    Polyline,
    RadialGradient,
    Rect,
    Style,
    SVGError,
    layer_runs,
    layers,
)
from gfx.svg.core.geometry import transform_element

_DEFAULT_STYLE = Style()
_STYLE_ATTRIBUTES = (
    ("fill", "fill"),
    ("stroke", "stroke"),
    ("stroke_width", "stroke-width"),
    ("opacity", "opacity"),
    ("fill_opacity", "fill-opacity"),
    ("stroke_opacity", "stroke-opacity"),
    ("fill_rule", "fill-rule"),
    ("stroke_linecap", "stroke-linecap"),
    ("stroke_linejoin", "stroke-linejoin"),
)
_MATRIX_EXTRA_DECIMALS = 3
"""A gradient transform's coefficients and the gradient-space coordinates it maps get this many more decimals
than document coordinates (the transform scales them)."""


class Defs:
    """The `<defs>` of one document: each gradient, clip path and mask gets an id the first time it is used;
    definitions that write the same text share one (so the work is linear in what is written)."""

    def __init__(self, decimals: int):
        self.decimals = decimals
        self.lines: list[str] = []
        self._seen: dict[int, tuple[object, str]] = {}  # id(value) -> (value, its id): kept alive, not reused
        self._by_text: dict[str, str] = {}
        self._count = {"g": 0, "c": 0, "m": 0}

    def id_of(self, kind: str, value, write) -> str:
        """The id of `value` ("g", "c" or "m" kind), writing its definition with `write(id)` when new."""
        if id(value) not in self._seen:
            lines = write("")
            text = "\n".join(lines)
            if text not in self._by_text:
                self._by_text[text] = f"{kind}{self._count[kind]}"
                self._count[kind] += 1
                lines[0] = lines[0].replace('id=""', f'id="{self._by_text[text]}"', 1)
                self.lines.extend(lines)
            self._seen[id(value)] = (value, self._by_text[text])
        return self._seen[id(value)][1]

    def paint(self, value) -> str:
        if isinstance(value, LinearGradient | RadialGradient):
            return f"url(#{self.id_of('g', value, lambda name: self._gradient(name, value))})"
        return "none" if value is None else value

    def _gradient(self, name: str, g: LinearGradient | RadialGradient) -> list[str]:
        n = lambda v: format_number(v, self.decimals)  # noqa: E731
        if isinstance(g, LinearGradient):
            tag, geometry = "linearGradient", [("x1", g.x1), ("y1", g.y1), ("x2", g.x2), ("y2", g.y2)]
        else:
            tag, geometry = (
                "radialGradient",
                [("cx", g.cx), ("cy", g.cy), ("r", g.r), ("fx", g.fx), ("fy", g.fy)],
            )
        digits = self.decimals + (_MATRIX_EXTRA_DECIMALS if g.transform != IDENTITY_MATRIX else 0)
        attributes = [
            f'id="{name}"',
            'gradientUnits="userSpaceOnUse"',
            *(f'{k}="{format_number(v, digits)}"' for k, v in geometry),  # gradient space: the transform scales it
        ]
        if g.spread != "pad":
            attributes.append(f'spreadMethod="{g.spread}"')
        if g.transform != IDENTITY_MATRIX:
            values = [format_number(v, digits) for v in g.transform[:4]] + [n(v) for v in g.transform[4:]]
            attributes.append(f'gradientTransform="matrix({" ".join(values)})"')
        stops = []
        for stop in g.stops:
            opacity = "" if n(stop.opacity) == "1" else f' stop-opacity="{n(stop.opacity)}"'
            stops.append(f'<stop offset="{n(stop.offset)}" stop-color="{stop.color}"{opacity}/>')
        return [f"<{tag} {' '.join(attributes)}>", *stops, f"</{tag}>"]

    def clip(self, clip: ClipPath) -> str:
        def write(name: str) -> list[str]:
            paths = [
                f'<path d="{path_data(p, decimals=self.decimals)}"'
                + ("" if p.style.fill_rule == "nonzero" else f' clip-rule="{p.style.fill_rule}"')
                + "/>"
                for p in clip.paths
            ]
            return [f'<clipPath id="{name}">', *paths, "</clipPath>"]

        return self.id_of("c", clip, write)

    def mask(self, mask: Mask) -> str:
        def write(name: str) -> list[str]:
            region = " ".join(
                f'{k}="{format_number(v, self.decimals)}"'
                for k, v in zip(("x", "y", "width", "height"), mask.region, strict=True)
            )
            content = layered(list(mask.elements), self)  # may define more, before this mask's own lines
            return [f'<mask id="{name}" maskUnits="userSpaceOnUse" {region}>', *content, "</mask>"]

        return self.id_of("m", mask, write)


def layered(elements: list[Element], defs: Defs, depth: int = 0) -> list[str]:
    """Element lines, each run of consecutive elements sharing the clip path or mask at `depth` of their
    layers (`layer_runs`: clip paths, then masks) wrapped in one `<g>`; a masked run is written scaled up
    by `mask_scale`, inside `<g transform="scale(1/k)">`."""
    lines: list[str] = []
    for layer, run in layer_runs(elements, depth):
        if layer is None:
            lines.append(element_to_svg(run[0], decimals=defs.decimals, defs=defs))
        elif isinstance(layer, ClipPath):
            lines += [f'<g clip-path="url(#{defs.clip(layer)})">', *layered(run, defs, depth + 1), "</g>"]
        else:
            scale, extent = mask_scale(layer), ""
            if scale != 1:
                memo: dict = {}
                run = [
                    transform_element(e, np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]]), memo) for e in run
                ]
                layer, extent = layers(run[0].style)[depth], f' transform="scale({1 / scale!r})"'
            lines += [f'<g{extent} mask="url(#{defs.mask(layer)})">', *layered(run, defs, depth + 1), "</g>"]
    return lines


MASK_UNITS = 512
"""cairosvg draws a mask at one pixel per user unit of its region, so a mask on a small viewBox would come out
blurred: a masked run is written in a user space scaled up by a power of two until its region spans this many
units (parsing maps it back)."""


def mask_scale(mask: Mask) -> float:
    """The power of two a masked run is scaled up by when written (1 for a region of `MASK_UNITS` or more)."""
    size = max(mask.region[2], mask.region[3])
    return 2.0 ** max(0, math.ceil(math.log2(MASK_UNITS / size))) if size > 0 else 1.0


def to_svg(doc: Document, *, decimals: int = 3, size: tuple[int, int] | None = None,
           groups: Sequence[tuple[str, int]] = ()) -> str:
    """Serialize a document.

    Args:
        doc: the document; paths may hold any absolute commands (see `ARITY`).
        decimals: digits after the point for every number.
        size: (width, height) written as the `width` and `height` attributes (e.g. a vectorized image's
            pixels), or None for none.
        groups: (label, element count) runs covering the elements in order, each written as
            `<g id="object-K-label" aria-label="label">` (a scene's objects); () for none.

    Returns:
        SVG text: an `<svg>` line with `xmlns`, `viewBox` (and `width`, `height`), one line per element, `</svg>`.
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    view_box = " ".join(format_number(v, decimals) for v in doc.view_box)
    extent = "" if size is None else f' width="{int(size[0])}" height="{int(size[1])}"'
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg"{extent} viewBox="{view_box}">']
    defs = Defs(decimals)
    if sum(n for _, n in groups) not in (0, len(doc.elements)) or any(n < 0 for _, n in groups):
        raise ValueError(f"groups cover {sum(n for _, n in groups)} elements; the document has {len(doc.elements)}")
    body, start = [], 0
    for k, (label, n) in enumerate(groups):
        name = quoteattr(f"object-{k}-" + "-".join(label.split()))
        body += [f"<g id={name} aria-label={quoteattr(label)}>", *layered(doc.elements[start : start + n], defs), "</g>"]
        start += n
    body += layered(doc.elements[start:], defs)
    if defs.lines:
        lines += ["<defs>", *defs.lines, "</defs>"]
    lines += body
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def element_to_svg(element: Element, *, decimals: int = 3, defs: Defs | None = None) -> str:
    """One element as a self-closing SVG tag, e.g. `<circle cx="12" cy="12" r="2"/>` (its clip paths and masks
    are not written; `to_svg` wraps them around). A gradient paint needs the document's `defs`."""
    n = lambda v: format_number(v, decimals)  # noqa: E731
    if isinstance(element, Path):
        geometry = [("d", path_data(element, decimals=decimals))]
    elif isinstance(element, Circle):
        geometry = [("cx", n(element.cx)), ("cy", n(element.cy)), ("r", n(element.r))]
    elif isinstance(element, Ellipse):
        geometry = [
            ("cx", n(element.cx)),
            ("cy", n(element.cy)),
            ("rx", n(element.rx)),
            ("ry", n(element.ry)),
        ]
    elif isinstance(element, Rect):
        geometry = [
            ("x", n(element.x)),
            ("y", n(element.y)),
            ("width", n(element.width)),
            ("height", n(element.height)),
        ]
        rx, ry = n(element.rx), n(element.ry)
        if rx != "0" or ry != "0":
            geometry.append(("rx", rx))
            if ry != rx:
                geometry.append(("ry", ry))
    elif isinstance(element, Line):
        geometry = [
            ("x1", n(element.x1)),
            ("y1", n(element.y1)),
            ("x2", n(element.x2)),
            ("y2", n(element.y2)),
        ]
    elif isinstance(element, Polyline):  # Polygon included
        geometry = [("points", " ".join(f"{n(x)},{n(y)}" for x, y in element.points.tolist()))]
    else:
        raise TypeError(f"cannot serialize {type(element).__name__}")
    attributes = geometry + style_attributes(element.style, decimals=decimals, defs=defs)
    return f"<{ELEMENT_TAGS[type(element)]} " + " ".join(f'{k}="{v}"' for k, v in attributes) + "/>"


def style_attributes(style: Style, *, decimals: int = 3, defs: Defs | None = None) -> list[tuple[str, str]]:
    """Presentation attributes for the fields of `style` that differ from SVG's defaults (clip paths and
    masks aside). Gradients are written into `defs` and referenced."""
    attributes = []
    for field, name in _STYLE_ATTRIBUTES:
        value = getattr(style, field)
        if value == getattr(_DEFAULT_STYLE, field):
            continue
        if isinstance(value, LinearGradient | RadialGradient):
            if defs is None:
                raise SVGError(
                    "a gradient paint needs the document's defs; serialize the document with to_svg"
                )
            text = defs.paint(value)
        elif value is None:
            text = "none"
        elif isinstance(value, float | int):
            text = format_number(value, decimals)
            if text == format_number(getattr(_DEFAULT_STYLE, field), decimals):
                continue
        else:
            text = value
        attributes.append((name, text))
    return attributes


def path_data(path: Path, *, decimals: int = 3) -> str:
    """Path `d` text: each command letter followed by its numbers, e.g. `M1 2L3-4.5Z`."""
    numbers = [format_number(v, decimals) for v in path.coords.tolist()]
    parts: list[str] = []
    i = 0
    for cmd in path.commands:
        k = ARITY[cmd]
        args = numbers[i : i + k]
        if cmd == "A":  # flags are exactly 0 or 1
            args[3:5] = ["1" if path.coords[i + 3] else "0", "1" if path.coords[i + 4] else "0"]
        i += k
        parts.append(cmd)
        for j, text in enumerate(args):
            if j and not text.startswith("-"):
                parts.append(" ")
            parts.append(text)
    if i != len(numbers):
        raise SVGError(f"path has {len(numbers)} numbers but its commands take {i}")
    return "".join(parts)


def format_number(value: float, decimals: int = 3) -> str:
    """Fixed-point text with trailing zeros and a leading `0` trimmed: 0.5 -> `.5`, -2.0 -> `-2`."""
    if not np.isfinite(value):
        raise SVGError(f"cannot write the number {value}; SVG numbers must be finite")
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        return "0"
    if text.startswith("0."):
        return text[1:]
    if text.startswith("-0."):
        return "-" + text[2:]
    return text
