"""SVG presentation properties: which ones gfx reads, their initial values, and parsing one value.

Plain Python. `declared` collects an element's presentation attributes and `style="..."` declarations (the
style attribute wins, `!important` and comments dropped); `parse_property` turns one value into its computed
form: a colour as (`#rrggbb`, alpha), `none` as None, `currentColor` as `CURRENT`, `url(#id) [fallback]` as a
`Url`, a length in user units, an opacity clamped to [0, 1], a keyword lowercased. `gfx.svg.core.parse` applies
them down the tree.
"""

from __future__ import annotations

from typing import NamedTuple

from gfx.svg.core.color import parse_color
from gfx.svg.core.document import SVGError
from gfx.svg.core.numbers import parse_length, parse_numbers
from gfx.svg.core.xml_tree import local_reference

INHERITED = (
    "fill",
    "stroke",
    "stroke-width",
    "fill-opacity",
    "stroke-opacity",
    "fill-rule",
    "clip-rule",
    "stroke-linecap",
    "stroke-linejoin",
    "color",
    "visibility",
)
REFERENCES = ("clip-path", "mask")
"""Not inherited: each applies to everything the element that declares it draws."""
PROPERTIES = frozenset(INHERITED) | {"opacity", "display", *REFERENCES}
UNSUPPORTED = frozenset({"filter", "stroke-dasharray", "marker", "marker-start", "marker-mid", "marker-end"})
"""Properties that change the rendering but are not modelled; a non-`none` value logs a warning."""
KEYWORDS = {
    "fill-rule": ("nonzero", "evenodd"),
    "clip-rule": ("nonzero", "evenodd"),
    "stroke-linecap": ("butt", "round", "square"),
    "stroke-linejoin": ("miter", "round", "bevel"),
    "visibility": ("visible", "hidden", "collapse"),
}
INITIAL = {
    "fill": ("#000000", 1.0),
    "stroke": None,
    "stroke-width": 1.0,
    "fill-opacity": 1.0,
    "stroke-opacity": 1.0,
    "fill-rule": "nonzero",
    "clip-rule": "nonzero",
    "stroke-linecap": "butt",
    "stroke-linejoin": "miter",
    "color": ("#000000", 1.0),
    "visibility": "visible",
}
"""The computed value of each inherited property at the root."""
CURRENT = "currentColor"


class Url(NamedTuple):
    """A `url(#id) [fallback]` paint before it is resolved for one element (`id` None: not in this document)."""

    id: str | None
    fallback: tuple[str, float] | None


def declared(attrs: dict[str, str], names: frozenset[str] = PROPERTIES | UNSUPPORTED) -> dict[str, str]:
    """The properties among `names` an element declares, from its attributes and its `style` attribute."""
    out = {k: v.strip() for k, v in attrs.items() if k in names}
    text = attrs.get("style")
    if text is None:
        return out
    pieces, pos = [], 0
    while (open_at := text.find("/*", pos)) >= 0:
        pieces.append(text[pos:open_at])
        close_at = text.find("*/", open_at + 2)
        pos = len(text) if close_at < 0 else close_at + 2
    pieces.append(text[pos:])
    for declaration in "".join(pieces).split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        if colon and name in names:
            value = value.strip()
            if value.lower().endswith("!important"):
                value = value[: -len("!important")].strip()
            out[name] = value
    return out


def parse_property(name: str, value: str, what: str, diagonal: float):
    """The computed value of an inherited property (see the module doc).

    Args:
        name: a name in `INHERITED`.
        value: its declared text (not `inherit`).
        what: the element and attribute for messages, e.g. `"a.svg: <path> fill"`.
        diagonal: the viewport's normalized diagonal, what a percentage stroke width refers to.

    Raises:
        SVGError: a value the property does not take.
    """
    if name in ("fill", "stroke", "color"):
        return parse_paint(value, what, name == "color")
    if name == "stroke-width":
        width = parse_length(value, what, diagonal)
        if width < 0:
            raise SVGError(f"{what} {value!r} is negative")
        return width
    if name in ("fill-opacity", "stroke-opacity"):
        return parse_opacity(value, what)
    if value.lower() not in KEYWORDS[name]:
        raise SVGError(f"{what} {value[:40]!r} is not one of {', '.join(KEYWORDS[name])}")
    return value.lower()


def parse_paint(value: str, what: str, is_color: bool = False):
    """A paint (or, with `is_color`, the `color` property): (`#rrggbb`, alpha), None, `CURRENT` or a `Url`."""
    low = value.lower()
    if low == "currentcolor" and not is_color:
        return CURRENT
    if low == "none" and not is_color:
        return None
    if low.startswith("url(") and not is_color:
        fallback = value[value.find(")") + 1 :].strip() if ")" in value else ""
        return Url(local_reference(value), parse_paint(fallback, what) if fallback else None)
    try:
        return parse_color(value)
    except SVGError as err:
        raise SVGError(f"{what} {err}") from None


def parse_opacity(value: str, what: str) -> float:
    """An opacity, a number or a percentage, clamped to [0, 1]."""
    text = value.strip()
    percent = text.endswith("%")
    number = parse_numbers(text[:-1] if percent else text, what)
    if len(number) != 1:
        raise SVGError(f"{what} {value[:40]!r} is not a number")
    return min(max(number[0] / 100 if percent else number[0], 0.0), 1.0)
