"""Affine maps in SVG's (2, 3) form: the transform-attribute parser and viewBox fitting.

A matrix is (2, 3) float64 `[[a, c, e], [b, d, f]]`, SVG's `matrix(a b c d e f)`, mapping (x, y) to
(a x + c y + e, b x + d y + f). Plain numpy. Applying a map to an element is
`gfx.svg.core.geometry.transform_element`.
"""

from __future__ import annotations

import math
import re

import numpy as np

from gfx.svg.core.document import SVGError
from gfx.svg.core.numbers import SEPARATORS, parse_numbers, snippet_at

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
"""The (2, 3) identity map."""

_TRANSFORM = re.compile(r"[\s,]*+(matrix|translate|scale|rotate|skewX|skewY)\s*+\(([^()]*+)\)", re.ASCII)


def parse_transform(text: str, what: str = "transform") -> np.ndarray:
    """Parse an SVG transform list into one (2, 3) float64 matrix `[[a, c, e], [b, d, f]]`.

    Functions compose left to right as SVG specifies (`translate(1) scale(2)` scales first); an empty
    list is the identity.

    Raises:
        SVGError: on an unknown function, a wrong argument count or a bad number.
    """
    total = np.eye(3)
    pos = 0
    while m := _TRANSFORM.match(text, pos):
        name, args = m.group(1), parse_numbers(m.group(2), f"{what} {m.group(1)}()")
        pos = m.end()
        total = total @ _transform_matrix(name, args, what)
    if SEPARATORS.match(text, pos).end() != len(text):
        raise SVGError(
            f"{what} {text[:60]!r} has {snippet_at(text, pos)} where a transform function is expected"
        )
    return total[:2]


def _transform_matrix(name: str, args: list[float], what: str) -> np.ndarray:
    counts = {
        "matrix": (6,),
        "translate": (1, 2),
        "scale": (1, 2),
        "rotate": (1, 3),
        "skewX": (1,),
        "skewY": (1,),
    }
    if len(args) not in counts[name]:
        raise SVGError(
            f"{what} {name}() takes {' or '.join(map(str, counts[name]))} numbers, got {len(args)}"
        )
    m = np.eye(3)
    if name == "matrix":
        m[:2] = np.array(args).reshape(3, 2).T
    elif name == "translate":
        m[0, 2], m[1, 2] = args[0], args[1] if len(args) == 2 else 0.0
    elif name == "scale":
        m[0, 0], m[1, 1] = args[0], args[1] if len(args) == 2 else args[0]
    elif name == "rotate":
        t = math.radians(args[0])
        m[:2, :2] = [[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]
        if len(args) == 3:
            cx, cy = args[1], args[2]
            m = (
                np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
                @ m
                @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]])
            )
    elif name == "skewX":
        m[0, 1] = math.tan(math.radians(args[0]))
    else:
        m[1, 0] = math.tan(math.radians(args[0]))
    return m


def fit_matrix(source: tuple[float, ...], target: tuple[float, ...]) -> np.ndarray:
    """The `xMidYMid meet` map of viewBox `source` into viewBox `target`.

    Returns:
        (2, 3) float64 affine matrix `[[a, c, e], [b, d, f]]` (SVG's `matrix(a b c d e f)`).
    """
    sx, sy, sw, sh = (float(v) for v in source)
    tx, ty, tw, th = (float(v) for v in target)
    if min(sw, sh, tw, th) <= 0:
        raise SVGError(f"viewBox sizes must be positive; got {sw} x {sh} into {tw} x {th}")
    s = min(tw / sw, th / sh)
    return np.array([[s, 0.0, tx + (tw - sw * s) / 2 - sx * s], [0.0, s, ty + (th - sh * s) / 2 - sy * s]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The (2, 3) map that applies `inner` first, then `outer`."""
    outer, inner = np.asarray(outer, dtype=np.float64), np.asarray(inner, dtype=np.float64)
    return outer[:, :2] @ inner + np.hstack([np.zeros((2, 2)), outer[:, 2:]])


def matrix_array(values: tuple[float, ...]) -> np.ndarray:
    """SVG `matrix(a b c d e f)` numbers -> (2, 3) float64 `[[a, c, e], [b, d, f]]`."""
    a, b, c, d, e, f = (float(v) for v in values)
    return np.array([[a, c, e], [b, d, f]])


def matrix_values(matrix: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(2, 3) `[[a, c, e], [b, d, f]]` -> SVG `matrix(a b c d e f)` numbers as a tuple of floats."""
    (a, c, e), (b, d, f) = np.asarray(matrix, dtype=np.float64).tolist()
    return (a, b, c, d, e, f)
