"""Drawing styles of icons: "outline" (strokes of the corpus width, nothing filled) and "filled" (fills only).

The corpus's stroke designers draw one way: of the 30,298 path elements of Tabler outline and Lucide, 30,197
(99.7%) are `<stroke> <w2> <cap_round> <join_round>` (stroke-width 2 on the 24-unit viewBox, round caps and
joins; the rest fill small dots), and 99.1% / 99.4% of their icons use nothing else. Tabler filled and MDI only
fill.

- `StyleBans(tokenizer, style)`: the sampling rule that keeps every generated path element of a `PathTokenizer`
  sequence in `style`, for a `BanningConstraint` on top of the tokenizer's grammar.
- `is_outline(svg)`: whether a drawing is in the outline style (the evaluation's outline-style rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gfx.svg.core.document import Document
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg

STYLES = ("outline", "filled")
ANY_STYLE = "any"
"""How the command line and the studio spell unconstrained sampling (the API's `style=None`)."""
OUTLINE_WIDTH = 2.0
"""Stroke width of the outline style in units of the 24-unit viewBox (Tabler outline, Lucide)."""
WIDTH_TOLERANCE = 0.125
"""A stroke counts as the outline width within this many units (half a `PathTokenizer` width level)."""


def check_style(style: str | None) -> None:
    """Raise a ValueError unless `style` is one of `STYLES` or None (unconstrained)."""
    if style is not None and style not in STYLES:
        raise ValueError(f"style {style!r} is unknown; use one of {', '.join(map(repr, STYLES))} or None (any)")


def style_from_name(name: str) -> str | None:
    """A style as the command line and the studio spell it: one of `STYLES`, or None for `ANY_STYLE`."""
    if name == ANY_STYLE:
        return None
    check_style(name)
    return name


class StyleBans:
    """history -> the token ids that would leave `style` next: a `BanningConstraint` rule for a `PathTokenizer`.

    outline: every path element opens `<stroke> <w2> <cap_round> <join_round>`; filled: every path element opens
    `<fill>`. Each banned token has an allowed sibling in the grammar, so the rule never leaves a row without a
    token. It reads only the last token, so replayed (kept) paths of another style are left alone.

    Args:
        tokenizer: the `PathTokenizer` the sequences are written in (it needs a width level of `OUTLINE_WIDTH`).
        style: "outline" or "filled".
    """

    def __init__(self, tokenizer, style: str):
        if style not in STYLES:
            check_style(style)
            raise ValueError("StyleBans needs a style; None (any style) needs no rule")
        fill, stroke, both = tokenizer.paint_ids
        self.style = style
        if style == "filled":
            self._always, self._after = frozenset({stroke, both}), {}
            return
        levels = np.flatnonzero(np.abs(tokenizer.widths - OUTLINE_WIDTH) < 1e-9)
        if not len(levels):
            raise ValueError(f"this tokenizer has no stroke width level {OUTLINE_WIDTH:g} "
                             f"(stroke_widths {list(tokenizer.widths)}); the outline style needs one")
        width = tokenizer.width_ids[int(levels[0])]
        cap, join = tokenizer.cap_ids["round"], tokenizer.join_ids["round"]
        options = {tokenizer.command_ids["M"], *tokenizer.cap_ids.values(), *tokenizer.join_ids.values()}
        always = frozenset({fill, both})
        self._always = always
        self._after = {
            stroke: always | (set(tokenizer.width_ids) - {width}),  # only the outline width
            width: always | (options - {cap}),  # then a round cap
            cap: always | (options - {join}),  # then a round join
        }

    def __call__(self, history: Sequence[int]) -> frozenset[int]:
        return self._after.get(history[-1], self._always) if len(history) else self._always


def is_outline(drawing: str | Document) -> bool:
    """True when `drawing` (SVG text or a Document, normalized to the 24-unit viewBox) has at least one element and
    every element is a stroke of `OUTLINE_WIDTH` (within `WIDTH_TOLERANCE`) with no fill."""
    document = normalize(drawing if isinstance(drawing, Document) else parse_svg(drawing))
    return bool(document.elements) and all(
        (s := e.style).fill is None and s.stroke is not None and abs(s.stroke_width - OUTLINE_WIDTH) < WIDTH_TOLERANCE
        for e in document.elements
    )
