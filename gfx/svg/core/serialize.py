"""Write a `Document` as compact SVG text.

Plain numpy, no torch. One element per line, fixed decimals with trailing zeros and the leading `0`
of `0.5` trimmed, attributes equal to SVG defaults omitted, path data in absolute commands. Every
`Style` field that differs from its default is written, even when it paints nothing (a stroke width
without a stroke), so `parse_svg(to_svg(doc))` gives back `doc` within the rounding.
"""

from __future__ import annotations

import numpy as np

from gfx.svg.core.document import (
    ARITY,
    ELEMENT_TAGS,
    Circle,
    Document,
    Element,
    Ellipse,
    Line,
    Path,
    Polyline,
    Rect,
    Style,
    SVGError,
)

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


def to_svg(doc: Document, *, decimals: int = 3, size: tuple[int, int] | None = None) -> str:
    """Serialize a document.

    Args:
        doc: the document; paths may hold any absolute commands (see `ARITY`).
        decimals: digits after the point for every number.
        size: (width, height) written as the `width` and `height` attributes (e.g. a vectorized image's
            pixels), or None for none.

    Returns:
        SVG text: an `<svg>` line with `xmlns`, `viewBox` (and `width`, `height`), one line per element, `</svg>`.
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    view_box = " ".join(format_number(v, decimals) for v in doc.view_box)
    extent = "" if size is None else f' width="{int(size[0])}" height="{int(size[1])}"'
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg"{extent} viewBox="{view_box}">']
    lines.extend(element_to_svg(e, decimals=decimals) for e in doc.elements)
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def element_to_svg(element: Element, *, decimals: int = 3) -> str:
    """One element as a self-closing SVG tag, e.g. `<circle cx="12" cy="12" r="2"/>`."""
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
    attributes = geometry + style_attributes(element.style, decimals=decimals)
    return f"<{ELEMENT_TAGS[type(element)]} " + " ".join(f'{k}="{v}"' for k, v in attributes) + "/>"


def style_attributes(style: Style, *, decimals: int = 3) -> list[tuple[str, str]]:
    """Presentation attributes for the fields of `style` that differ from SVG's defaults."""
    attributes = []
    for field, name in _STYLE_ATTRIBUTES:
        value = getattr(style, field)
        if value == getattr(_DEFAULT_STYLE, field):
            continue
        if value is None:
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
