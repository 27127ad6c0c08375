"""Lex SVG numbers and lengths: number lists, unit lengths, magnitude bounds.

Plain numpy. The lexers are anchored regexes over a moving position, so their time is linear in the
input; digits and white space are ASCII only, as in SVG. Every refusal raises `SVGError` naming the
field (`what`) and the offending text.
"""

from __future__ import annotations

import math
import re

import numpy as np

from gfx.svg.core.document import SVGError

MAX_MAGNITUDE = 1e15
"""Largest coordinate or length accepted: float64 keeps no fraction digits beyond it, and geometry
(squares of products in arc conversion) stays far from overflow below it."""

NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
"""Regex source of one SVG number (`1.5.5` lexes as `1.5` then `.5`)."""
# ASCII only: SVG's digits and white space are ASCII (Python's \d and \s would accept others).
SEPARATORS = re.compile(r"[\s,]*+", re.ASCII)
"""White space and commas; `SEPARATORS.match(text, pos).end()` skips them."""
NEXT_NUMBER = re.compile(rf"[\s,]*+({NUMBER})", re.ASCII)
"""Separators then one number, captured as group 1."""

_LENGTH = re.compile(rf"({NUMBER})(px|pt|pc|mm|cm|in|em|ex|%)?", re.IGNORECASE | re.ASCII)
_UNITS = {
    "": 1.0,
    "px": 1.0,
    "pt": 4 / 3,
    "pc": 16.0,
    "mm": 96 / 25.4,
    "cm": 96 / 2.54,
    "in": 96.0,
    "em": 16.0,
    "ex": 8.0,
}


class TooManyError(SVGError):
    """A count went over a budget; `count` is how many were seen when reading stopped."""

    def __init__(self, message: str, count: int):
        super().__init__(message)
        self.count = count


def snippet_at(text: str, pos: int) -> str:
    """The quoted text at `pos`, a dozen characters of it, for error messages."""
    return repr(text[pos : pos + 12])


def in_range(numbers: np.ndarray) -> bool:
    """True when all numbers are finite and within ±MAX_MAGNITUDE (NaN fails the comparison)."""
    return bool(np.all(np.abs(numbers) <= MAX_MAGNITUDE))


def parse_numbers(text: str, what: str, max_count: int | None = None) -> list[float]:
    """Parse a list of numbers separated by whitespace and/or commas (viewBox, points, arguments).

    Raises:
        SVGError: on anything but numbers, a non-finite number or one beyond MAX_MAGNITUDE.
        TooManyError: on more than `max_count` numbers (checked while reading).
    """
    values, pos = [], 0
    while m := NEXT_NUMBER.match(text, pos):
        values.append(_finite(m.group(1), what))
        pos = m.end()
        if max_count is not None and len(values) > max_count:
            raise TooManyError(f"{what} has more than {max_count} numbers", len(values))
    pos = SEPARATORS.match(text, pos).end()
    if pos != len(text):
        raise SVGError(f"{what} has {snippet_at(text, pos)} where a number is expected")
    return values


def parse_length(text: str, what: str, reference: float | None) -> float:
    """Parse an SVG length (`12`, `1.5in`, `50%`, ...) into user units (CSS px).

    Args:
        text: the attribute value; surrounding white space is ignored.
        what: a name for messages, e.g. `"a.svg: <rect> width"`.
        reference: the length 100% stands for; None makes percentages 0.

    Raises:
        SVGError: when `text` is not a length or its number is not finite or beyond MAX_MAGNITUDE.
    """
    m = _LENGTH.fullmatch(text.strip())
    if m is None:
        raise SVGError(f"{what} {text.strip()[:40]!r} is not a length")
    value = _finite(m.group(1), what)
    unit = (m.group(2) or "").lower()
    if unit == "%":
        return value / 100 * (reference if reference is not None else 0.0)
    return value * _UNITS[unit]


def _finite(text: str, what: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise SVGError(f"{what} has the number {text!r}, which is not finite")
    if abs(value) > MAX_MAGNITUDE:
        raise SVGError(f"{what} has the number {text!r}, beyond the largest magnitude {MAX_MAGNITUDE:g}")
    return value
