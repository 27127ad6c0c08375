"""The in-memory SVG model: a viewBox and a flat, ordered list of styled elements.

Plain numpy, no torch. `parse` builds a `Document` from SVG text; `normalize` rewrites it into
canonical form (only `Path` elements of absolute M/L/C/Z, in the canonical viewBox); `to_svg`
writes it back as compact SVG text.

Path data is stored as a command string plus one flat coordinate array, e.g. commands "MLCZ" with
coords of length 2 + 2 + 6 + 0. Before normalization a path may hold any absolute SVG command
(`ARITY` lists them); after normalization only M, L, C and Z remain, so `points` is (N, 2).

Everything is in document (viewBox) coordinates: transforms are applied to the geometry, and to the
paint servers, clip paths and masks an element's `Style` carries. A paint is a `#rrggbb` colour, None, or
a `LinearGradient` / `RadialGradient` (SVG `gradientUnits="userSpaceOnUse"` with a `transform`). Groups are
not elements: a group's clip path and mask are on each of its elements (`Style.clip`, `Style.mask`; a run of
consecutive elements with the same mask is one masked group again when written), and a group's opacity
is multiplied into its elements' (exact unless they overlap).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}
"""Numbers each absolute path command consumes (A: rx ry rotation large-arc sweep x y)."""

NORMAL_COMMANDS = frozenset("MLCZ")


class SVGError(ValueError):
    """An SVG input that gfx refuses: malformed, hostile, over a limit, or unsupported.

    The message is one line and says what to do, e.g.
    `SVGError: icon.svg has 120000 path commands; the limit is 20000 (max_commands)`.
    """


Matrix = tuple[float, float, float, float, float, float]
"""An affine map as SVG's `matrix(a b c d e f)`: (x, y) -> (a x + c y + e, b x + d y + f)."""

IDENTITY_MATRIX: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
SPREADS = ("pad", "reflect", "repeat")


@dataclass(frozen=True)
class Stop:
    """A gradient stop: `offset` in [0, 1] (non-decreasing along a gradient), `color` `#rrggbb`, `opacity`."""

    offset: float
    color: str
    opacity: float = 1.0


@dataclass(frozen=True)
class LinearGradient:
    """A linear gradient paint server; its coordinates are mapped to the document by `transform`.

    A point's colour is that of the stops at its projection onto (x1, y1) -> (x2, y2) in gradient space,
    spread beyond the ends as `spread` says ("pad", "reflect" or "repeat").
    """

    x1: float
    y1: float
    x2: float
    y2: float
    stops: tuple[Stop, ...]
    spread: str = "pad"
    transform: Matrix = IDENTITY_MATRIX


@dataclass(frozen=True)
class RadialGradient:
    """A radial gradient paint server: circle (cx, cy, r) with focal point (fx, fy), both in gradient space,
    mapped to the document by `transform` (an ellipse there when the map is not a similarity)."""

    cx: float
    cy: float
    r: float
    fx: float
    fy: float
    stops: tuple[Stop, ...]
    spread: str = "pad"
    transform: Matrix = IDENTITY_MATRIX


Gradient = LinearGradient | RadialGradient
Paint = str | LinearGradient | RadialGradient | None
"""A colour `#rrggbb`, a gradient, or None for `none`."""


@dataclass(frozen=True)
class ClipPath:
    """A clip region in document coordinates: the union of `paths` (each `Path.style.fill_rule` is its
    clip-rule; the other style fields are unused)."""

    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Mask:
    """A mask in document coordinates: `elements` painted (SVG: their luminance times alpha) inside `region`
    `(x, y, width, height)`, nothing outside it."""

    elements: tuple[Element, ...]
    region: tuple[float, float, float, float]


@dataclass(frozen=True)
class Style:
    """Presentation of one element, resolved (inheritance and `currentColor` already applied).

    Colours are lowercase `#rrggbb` strings or None for `none`; `fill` and `stroke` may also be gradients.
    `clip` lists the clip paths the element is clipped to (all of them: their intersection) and `mask` the
    masks of the groups it is in, outermost first.
    """

    fill: Paint = "#000000"
    stroke: Paint = None
    stroke_width: float = 1.0
    opacity: float = 1.0
    fill_opacity: float = 1.0
    stroke_opacity: float = 1.0
    fill_rule: str = "nonzero"  # "nonzero" | "evenodd"
    stroke_linecap: str = "butt"  # "butt" | "round" | "square"
    stroke_linejoin: str = "miter"  # "miter" | "round" | "bevel"
    clip: tuple[ClipPath, ...] = ()
    mask: tuple[Mask, ...] = ()

    @property
    def visible(self) -> bool:
        """True when the element can paint anything at all."""
        if self.opacity <= 0:
            return False
        paints_fill = self.fill is not None and self.fill_opacity > 0
        paints_stroke = self.stroke is not None and self.stroke_opacity > 0 and self.stroke_width > 0
        return paints_fill or paints_stroke

    def replace(self, **changes) -> Style:
        return dataclasses.replace(self, **changes)


@dataclass
class Path:
    """A path element.

    Attributes:
        commands: absolute command letters, one per command, e.g. "MLLZ".
        coords: (K,) float64, the commands' numbers concatenated in order (see `ARITY`).
        style: resolved presentation.
    """

    commands: str
    coords: np.ndarray
    style: Style = field(default_factory=Style)

    def __post_init__(self):
        self.coords = np.asarray(self.coords, dtype=np.float64).reshape(-1)

    def __eq__(self, other) -> bool:
        return (
            type(other) is type(self)
            and self.commands == other.commands
            and np.array_equal(self.coords, other.coords)
            and self.style == other.style
        )

    @property
    def points(self) -> np.ndarray:
        """(N, 2) float64 control and end points; only valid for normalized (M/L/C/Z) paths."""
        if not set(self.commands) <= NORMAL_COMMANDS:
            raise SVGError(
                f"path has commands {sorted(set(self.commands) - NORMAL_COMMANDS)}; normalize it first"
            )
        return self.coords.reshape(-1, 2)


@dataclass
class Circle:
    cx: float
    cy: float
    r: float
    style: Style = field(default_factory=Style)


@dataclass
class Ellipse:
    cx: float
    cy: float
    rx: float
    ry: float
    style: Style = field(default_factory=Style)


@dataclass
class Rect:
    x: float
    y: float
    width: float
    height: float
    rx: float = 0.0
    ry: float = 0.0
    style: Style = field(default_factory=Style)


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    style: Style = field(default_factory=Style)


@dataclass
class Polyline:
    """An open polyline; `points` is (N, 2) float64."""

    points: np.ndarray
    style: Style = field(default_factory=Style)

    def __post_init__(self):
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)

    def __eq__(self, other) -> bool:
        return (
            type(other) is type(self)
            and np.array_equal(self.points, other.points)
            and self.style == other.style
        )


@dataclass(eq=False)  # inherits Polyline.__eq__, which compares the arrays element-wise
class Polygon(Polyline):
    """A closed polygon; `points` is (N, 2) float64."""


Element = Path | Circle | Ellipse | Rect | Line | Polyline | Polygon

ELEMENT_TAGS: dict[type, str] = {
    Path: "path",
    Circle: "circle",
    Ellipse: "ellipse",
    Rect: "rect",
    Line: "line",
    Polyline: "polyline",
    Polygon: "polygon",
}


@dataclass
class Document:
    """An SVG drawing: viewBox `(min_x, min_y, width, height)` and elements in paint order."""

    view_box: tuple[float, float, float, float]
    elements: list[Element] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [e for e in self.elements if isinstance(e, Path)]

    @property
    def is_normalized(self) -> bool:
        return all(isinstance(e, Path) and set(e.commands) <= NORMAL_COMMANDS for e in self.elements)

    def isclose(self, other: Document, atol: float = 1e-6) -> bool:
        """True when both documents have the same structure and all numbers agree within `atol`.

        Compares viewBoxes, element types and order, path commands, colours and enumerated style
        values exactly, and every coordinate, length and opacity within `atol`.
        """
        if len(self.elements) != len(other.elements):
            return False
        if not np.allclose(self.view_box, other.view_box, rtol=0, atol=atol):
            return False
        return all(_elements_close(a, b, atol) for a, b in zip(self.elements, other.elements, strict=True))


def _elements_close(a: Element, b: Element, atol: float) -> bool:
    if type(a) is not type(b) or not _styles_close(a.style, b.style, atol):
        return False
    if isinstance(a, Path):
        return (
            a.commands == b.commands and a.coords.shape == b.coords.shape and _close(a.coords, b.coords, atol)
        )
    if isinstance(a, Polyline):
        return a.points.shape == b.points.shape and _close(a.points, b.points, atol)
    numbers = [f.name for f in dataclasses.fields(a) if f.name != "style"]
    return _close([getattr(a, n) for n in numbers], [getattr(b, n) for n in numbers], atol)


def _styles_close(a: Style, b: Style, atol: float) -> bool:
    return all(_values_close(getattr(a, f.name), getattr(b, f.name), atol) for f in dataclasses.fields(Style))


def _values_close(x, y, atol: float) -> bool:
    """Style values within `atol`: numbers, and recursively gradients, stops, clip paths and masks."""
    if isinstance(x, bool | str | None) or isinstance(y, bool | str | None):
        return x == y
    if isinstance(x, float | int) and isinstance(y, float | int):
        return abs(x - y) <= atol
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_values_close(p, q, atol) for p, q in zip(x, y, strict=True))
    if type(x) is not type(y):
        return False
    if isinstance(x, Path | Polyline | Circle | Ellipse | Rect | Line):
        return _elements_close(x, y, atol)
    return all(_values_close(getattr(x, f.name), getattr(y, f.name), atol) for f in dataclasses.fields(x))


def _close(a, b, atol: float) -> bool:
    return bool(
        np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=0, atol=atol)
    )


def layers(style: Style) -> tuple[ClipPath | Mask, ...]:
    """The groups an element is drawn in, outermost first: its clip paths, then its masks."""
    return (*style.clip, *style.mask)


def layer_runs(elements: list[Element], depth: int = 0) -> list[tuple[ClipPath | Mask | None, list[Element]]]:
    """Split elements into runs: consecutive elements that share their layer at `depth` (see `layers`) make one
    run with that layer; an element with no layer at `depth` is a run of its own, with None."""
    runs: list[tuple[ClipPath | Mask | None, list[Element]]] = []
    for element in elements:
        own = layers(element.style)
        layer = own[depth] if depth < len(own) else None
        if (
            layer is not None
            and runs
            and runs[-1][0] is not None
            and (runs[-1][0] is layer or runs[-1][0] == layer)
        ):
            runs[-1][1].append(element)
        else:
            runs.append((layer, [element]))
    return runs
