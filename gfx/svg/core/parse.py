"""Parse untrusted SVG text into a flat `Document` in the file's own viewBox coordinates.

Plain numpy, no torch. Safety: the XML is read by expat with a guard equivalent to defusedxml's:
no entity declarations, no DTD internal subset, no external DTD other than the W3C SVG ones (never
fetched), no external or undefined entities, so nothing is loaded from the network or the disk and
entity-expansion bombs are refused before any expansion. `ParseLimits` bounds the input size
(checked before parsing), the element count, nesting depth and path command count (checked while
reading, so an oversized input fails fast) and the element count after `<use>` expansion (counted on
the tree before anything renders, so a `<use>` bomb or a `<use>` cycle is refused, not drawn). The path-data, number and transform lexers
(`gfx.svg.core.path_data`, `gfx.svg.core.numbers`, `gfx.svg.core.transform`) are anchored regexes over a moving
position, so their time is linear in the input. Every refusal raises `SVGError` with a one-line
message naming the source, the value, the limit and the field.

Semantics: presentation attributes and `style="..."` properties inherit through `<svg>` and `<g>`
(opacity multiplies down the tree), `currentColor` resolves to `color` (black by default), colours
become lowercase `#rrggbb` (None for `none`; see `gfx.svg.core.color`), transforms compose through groups and are applied to
the geometry (see `transform_element`). Containers that do not paint (`defs`, `clipPath`, `mask`,
`symbol`, `title`, `desc`, `metadata`, `style`, gradients, ...) are skipped; so are `display="none"`
subtrees and `visibility="hidden"` elements; `use`, `text` and `image` are skipped with a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from xml.parsers import expat

import numpy as np

from gfx.svg.core.color import parse_color
from gfx.svg.core.document import (
    Circle,
    Document,
    Element,
    Ellipse,
    Line,
    Path,
    Polygon,
    Polyline,
    Rect,
    Style,
    SVGError,
)
from gfx.svg.core.geometry import transform_element
from gfx.svg.core.numbers import MAX_MAGNITUDE, TooManyError, in_range, parse_length, parse_numbers
from gfx.svg.core.path_data import parse_path_data
from gfx.svg.core.transform import IDENTITY, fit_matrix, parse_transform

log = logging.getLogger(__name__)

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
DEFAULT_VIEW_BOX = (0.0, 0.0, 300.0, 150.0)
"""The SVG default viewport size when a file gives neither viewBox nor width/height."""


@dataclasses.dataclass(frozen=True)
class ParseLimits:
    """Bounds on what `parse_svg` accepts.

    Attributes:
        max_bytes: input size in bytes (UTF-8 for text), checked before parsing.
        max_elements: XML elements of any kind.
        max_depth: element nesting depth (the root `<svg>` is depth 1).
        max_commands: path commands in the document, implicit repeats included; each
            polyline/polygon point counts as one.
        max_expanded_elements: elements a renderer draws once every `<use>` is replaced by a copy of
            what it references (recursively); bounds `<use>` bombs, which the parser itself skips.
    """

    max_bytes: int = 10_000_000
    max_elements: int = 100_000
    max_depth: int = 64
    max_commands: int = 20_000
    max_expanded_elements: int = 100_000


def load_svg(path: str | os.PathLike, *, limits: ParseLimits = ParseLimits()) -> Document:
    """Read and parse an SVG file (see `parse_svg`); the size limit is checked before reading."""
    source = os.fspath(path)
    try:
        size = os.path.getsize(source)
        if size > limits.max_bytes:
            raise SVGError(f"{source} is {size} bytes; the limit is {limits.max_bytes} (max_bytes)")
        with open(source, "rb") as f:
            data = f.read(limits.max_bytes + 1)
    except OSError as err:
        raise SVGError(f"cannot read {source}: {err.strerror or err}") from err
    return parse_svg(data, limits=limits, source=source)


def parse_svg(data: str | bytes, *, limits: ParseLimits = ParseLimits(), source: str = "<svg>") -> Document:
    """Parse SVG text safely into a flat `Document`.

    Args:
        data: SVG text, or bytes in the encoding its XML declaration names (UTF-8 by default).
        limits: size, element, depth and path-command bounds.
        source: a name for messages, e.g. the file name.

    Returns:
        A `Document` in the file's own viewBox coordinates, elements in paint order, transforms applied.

    Raises:
        SVGError: hostile, malformed, non-SVG or over-limit input.
    """
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, str | bytes):
        raise TypeError(f"parse_svg takes str or bytes, not {type(data).__name__}")
    size = len(data.encode("utf-8", errors="surrogatepass")) if isinstance(data, str) else len(data)
    if size > limits.max_bytes:
        raise SVGError(f"{source} is {size} bytes; the limit is {limits.max_bytes} (max_bytes)")
    if not data.strip():
        raise SVGError(f"{source} is empty; expected SVG text starting with <svg")
    root = _read_xml(data, limits, source)
    namespace, _, tag = root.tag.rpartition(" ")
    if tag != "svg" or namespace not in ("", SVG_NAMESPACE):
        shown = f"{{{namespace}}}{tag}" if namespace else tag
        raise SVGError(f"{source} is not SVG: its root element is <{shown}>; expected <svg>")
    _check_use_expansion(root, limits, source)
    return _Builder(source, limits).build(root)


# ------------------------------------------------------------------------------------------------ XML

_W3C_DTD_PUBLIC_IDS = frozenset(
    {
        "-//W3C//DTD SVG 1.0//EN",
        "-//W3C//DTD SVG 20010904//EN",
        "-//W3C//DTD SVG 1.1//EN",
        "-//W3C//DTD SVG 1.1 Basic//EN",
        "-//W3C//DTD SVG 1.1 Tiny//EN",
    }
)
_W3C_DTD_PREFIXES = ("http://www.w3.org/Graphics/SVG/", "http://www.w3.org/TR/2001/REC-SVG-20010904/")


class _Node:
    __slots__ = ("tag", "attrs", "children")

    def __init__(self, tag: str, attrs: dict[str, str]):
        self.tag = tag
        self.attrs = attrs
        self.children: list[_Node] = []


def _read_xml(data: str | bytes, limits: ParseLimits, source: str) -> _Node:
    """Build a minimal element tree with expat, refusing DTD tricks and enforcing limits as it reads."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []
    roots: list[_Node] = []
    count = 0

    def refuse(message: str):
        raise SVGError(f"{source} {message}")

    def doctype(name, system_id, public_id, has_internal_subset):
        if has_internal_subset:
            refuse("has a DOCTYPE with an internal subset (entity declarations); remove the DOCTYPE")
        if (public_id and public_id not in _W3C_DTD_PUBLIC_IDS) or (
            system_id and not system_id.startswith(_W3C_DTD_PREFIXES)
        ):
            refuse(f"refers to an external DTD {system_id or public_id!r}; remove the DOCTYPE")

    def start(tag, attrs):
        nonlocal count
        count += 1
        if count > limits.max_elements:
            refuse(
                f"has more than {limits.max_elements} elements; the limit is {limits.max_elements} (max_elements)"
            )
        if len(stack) >= limits.max_depth:
            refuse(f"nests elements {len(stack) + 1} deep; the limit is {limits.max_depth} (max_depth)")
        node = _Node(tag, attrs)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = lambda name, *_: refuse(f"declares the entity {name!r}; entities are refused")
    parser.UnparsedEntityDeclHandler = lambda name, *_: refuse(
        f"declares the entity {name!r}; entities are refused"
    )
    parser.ExternalEntityRefHandler = lambda *_: refuse("references an external entity; entities are refused")
    parser.SkippedEntityHandler = lambda name, *_: refuse(f"uses the undefined entity &{name};")
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    try:
        parser.Parse(data, True)
    except (UnicodeError, LookupError) as err:  # lone surrogates, an unknown declared encoding
        raise SVGError(f"{source} cannot be decoded: {err}") from None
    except expat.ExpatError as err:
        message = expat.ErrorString(err.code)
        raise SVGError(
            f"{source} is not well-formed XML: {message} at line {err.lineno}, column {err.offset}"
        ) from None
    return roots[0]


_HREFS = ("href", "http://www.w3.org/1999/xlink href")
"""`<use>`'s reference attribute as `_read_xml` names it: SVG 2 `href`, SVG 1.1 `xlink:href`."""


def _use_target(node: _Node) -> str | None:
    """The id a `<use>` references in this document (`href="#id"`), else None."""
    if node.tag.rpartition(" ")[2] != "use":
        return None
    href = next((node.attrs[name] for name in _HREFS if name in node.attrs), "").strip()
    return href[1:] if href.startswith("#") else None


def _check_use_expansion(root: _Node, limits: ParseLimits, source: str) -> None:
    """Refuse a tree that a renderer would blow up: count its elements with every `<use>` replaced by
    what it references, recursively, without expanding anything (one visit per element, memoized), and
    refuse `<use>` cycles. Linear in the tree size, so a `<use>` bomb is refused in milliseconds."""
    ids: dict[str, _Node] = {}
    references: dict[int, _Node] = {}  # id(<use> node) -> the node it references
    nodes = [root]
    for node in nodes:  # breadth-first; appending while iterating visits every node once
        if node.attrs.get("id"):
            ids.setdefault(node.attrs["id"].strip(), node)
        nodes.extend(node.children)
    for node in nodes:
        target = ids.get(_use_target(node) or "")
        if target is not None:
            references[id(node)] = target
    if not references:
        return
    limit = limits.max_expanded_elements
    expanded: dict[int, int] = {}  # id(node) -> elements it draws, capped at limit + 1
    on_path: set[int] = set()  # nodes whose count is in progress: the current path from the root
    stack = [(root, False)]
    while stack:  # iterative post-order: `<use>` chains can be far deeper than Python's recursion limit
        node, children_done = stack.pop()
        key = id(node)
        below = [*node.children, *([references[key]] if key in references else [])]
        if children_done:
            on_path.discard(key)
            expanded[key] = min(limit + 1, 1 + sum(expanded[id(child)] for child in below))
        elif key not in expanded:
            on_path.add(key)
            stack.append((node, True))
            for child in below:
                if id(child) in on_path:
                    raise SVGError(f"{source} has a <use> cycle: an element that references itself; remove it")
                stack.append((child, False))
    if expanded[id(root)] > limit:
        raise SVGError(
            f"{source} has more than {limit} elements once <use> references are expanded; the limit is {limit}"
            " (max_expanded_elements)"
        )


# ------------------------------------------------------------------------------------------- styles

_INHERITED = (
    "fill",
    "stroke",
    "stroke-width",
    "fill-opacity",
    "stroke-opacity",
    "fill-rule",
    "stroke-linecap",
    "stroke-linejoin",
    "color",
    "visibility",
)
_PROPERTIES = frozenset(_INHERITED) | {"opacity", "display"}
_UNSUPPORTED = frozenset(
    {"clip-path", "mask", "filter", "stroke-dasharray", "marker", "marker-start", "marker-mid", "marker-end"}
)
"""Properties that change the rendering but are not modelled; a non-`none` value logs a warning."""
_KEYWORDS = {
    "fill-rule": ("nonzero", "evenodd"),
    "stroke-linecap": ("butt", "round", "square"),
    "stroke-linejoin": ("miter", "round", "bevel"),
    "visibility": ("visible", "hidden", "collapse"),
}
_ROOT_PROPERTIES = {
    "fill": ("#000000", 1.0),
    "stroke": None,
    "stroke-width": 1.0,
    "fill-opacity": 1.0,
    "stroke-opacity": 1.0,
    "fill-rule": "nonzero",
    "stroke-linecap": "butt",
    "stroke-linejoin": "miter",
    "color": ("#000000", 1.0),
    "visibility": "visible",
}
_CURRENT = "currentColor"


def _parse_style_attribute(text: str) -> dict[str, str]:
    """Declarations of a `style="..."` attribute (known or warned-about properties, comments removed)."""
    pieces, pos = [], 0
    while (open_at := text.find("/*", pos)) >= 0:
        pieces.append(text[pos:open_at])
        close_at = text.find("*/", open_at + 2)
        pos = len(text) if close_at < 0 else close_at + 2
    pieces.append(text[pos:])
    declared = {}
    for declaration in "".join(pieces).split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        if colon and (name in _PROPERTIES or name in _UNSUPPORTED):
            value = value.strip()
            if value.lower().endswith("!important"):
                value = value[: -len("!important")].strip()
            declared[name] = value
    return declared


def _element_in_range(element: Element) -> bool:
    if isinstance(element, Path):
        numbers = element.coords
    elif isinstance(element, Polyline):
        numbers = element.points
    else:
        numbers = np.array(
            [getattr(element, f.name) for f in dataclasses.fields(element) if f.name != "style"]
        )
    return in_range(numbers) and in_range(np.array([element.style.stroke_width]))


# ------------------------------------------------------------------------------------------- building

_SKIPPED = frozenset(
    "defs clipPath mask symbol title desc metadata style linearGradient radialGradient pattern marker filter "
    "script foreignObject font font-face cursor view animate animateMotion animateTransform set".split()
)
_WARNED = frozenset({"use", "text", "image"})
_CONTAINERS = frozenset({"g", "a", "switch"})
_SHAPES = frozenset({"path", "rect", "circle", "ellipse", "line", "polyline", "polygon"})


@dataclasses.dataclass
class _Context:
    matrix: np.ndarray  # (2, 3) user space -> viewBox
    properties: dict  # inherited computed values
    opacity: float  # product of ancestor opacities


class _Builder:
    """Walks the element tree once, resolving styles and transforms into flat elements."""

    def __init__(self, source: str, limits: ParseLimits):
        self.source = source
        self.limits = limits
        self.commands = 0
        self.elements: list[Element] = []
        self.view_box = DEFAULT_VIEW_BOX
        self.warned: set[str] = set()

    def build(self, root: _Node) -> Document:
        self.view_box = self._view_box(root)
        transform = root.attrs.get("transform")
        matrix = parse_transform(transform, self._what("svg", "transform")) if transform else IDENTITY
        self._walk(root, _Context(matrix, dict(_ROOT_PROPERTIES), 1.0), is_root=True)
        return Document(self.view_box, self.elements)

    def _what(self, tag: str, field: str) -> str:
        return f"{self.source}: <{tag}> {field}"

    def _warn_once(self, message: str) -> None:
        if message not in self.warned:
            self.warned.add(message)
            log.warning("%s: %s", self.source, message)

    def _view_box(self, root: _Node) -> tuple[float, float, float, float]:
        text = root.attrs.get("viewBox")
        if text is not None:
            values = parse_numbers(text, self._what("svg", "viewBox"))
            if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
                raise SVGError(
                    f"{self.source}: viewBox {text.strip()[:60]!r} needs 4 numbers with positive width and height"
                )
            return tuple(values)
        size = []
        for name, default in (("width", DEFAULT_VIEW_BOX[2]), ("height", DEFAULT_VIEW_BOX[3])):
            value = root.attrs.get(name, "").strip()
            length = self._length(value, "svg", name, None) if value and not value.endswith("%") else None
            size.append(length if length and length > 0 else default)
        return (0.0, 0.0, size[0], size[1])

    def _length(self, text: str, tag: str, name: str, reference: float | None) -> float:
        return parse_length(text, self._what(tag, name), reference)

    def _walk(self, node: _Node, parent: _Context, is_root: bool = False) -> None:
        namespace, _, tag = node.tag.rpartition(" ")
        if namespace not in ("", SVG_NAMESPACE) or tag in _SKIPPED:
            return
        if tag in _WARNED:
            self._warn_once(f"skipped <{tag}> elements (not supported)")
            return
        if tag not in _CONTAINERS and tag not in _SHAPES and tag != "svg":
            log.debug("%s: skipped unknown element <%s>", self.source, tag)
            return
        declared = {k: v.strip() for k, v in node.attrs.items() if k in _PROPERTIES or k in _UNSUPPORTED}
        if "style" in node.attrs:
            declared.update(_parse_style_attribute(node.attrs["style"]))
        for name in _UNSUPPORTED.intersection(declared):
            if declared.pop(name).lower() not in ("none", "0", ""):
                self._warn_once(f"ignored {name} (not supported)")
        if declared.get("display", "").lower() == "none":
            return
        ctx = _Context(parent.matrix, dict(parent.properties), parent.opacity)
        for name, value in declared.items():
            keeps_parent = value.lower() == "inherit" or name == "color" and value.lower() == "currentcolor"
            if name in ctx.properties and not keeps_parent:
                ctx.properties[name] = self._property(tag, name, value)
        if "opacity" in declared and declared["opacity"].lower() != "inherit":
            ctx.opacity *= self._opacity(tag, "opacity", declared["opacity"])
        if not is_root:
            ctx.matrix = self._local_matrix(node, tag, parent.matrix)
        if tag in _SHAPES:
            if ctx.properties["visibility"] == "visible":
                self._add_shape(node, tag, ctx)
            return
        for child in node.children:
            self._walk(child, ctx)

    def _local_matrix(self, node: _Node, tag: str, matrix: np.ndarray) -> np.ndarray:
        if tag != "svg" and "transform" not in node.attrs:
            return matrix  # the common case: the parent's matrix, no 3 x 3 arithmetic
        local = np.eye(3)
        if "transform" in node.attrs:
            local[:2] = parse_transform(node.attrs["transform"], self._what(tag, "transform"))
        if tag == "svg":  # a nested viewport: place its viewBox (its clipping is not modelled)
            x, y = (
                self._length(node.attrs.get(k, "0"), tag, k, self.view_box[2 + i]) for i, k in enumerate("xy")
            )
            w, h = (
                self._length(node.attrs.get(k, "100%"), tag, k, self.view_box[2 + i])
                for i, k in enumerate(("width", "height"))
            )
            viewport = np.eye(3)
            viewport[:2] = [[1, 0, x], [0, 1, y]]
            if "viewBox" in node.attrs and w > 0 and h > 0:
                box = parse_numbers(node.attrs["viewBox"], self._what(tag, "viewBox"))
                if len(box) == 4 and box[2] > 0 and box[3] > 0:
                    viewport[:2] = fit_matrix(box, (x, y, w, h))
            local = local @ viewport
        if np.array_equal(local, np.eye(3)):
            return matrix
        full = np.vstack([matrix, [0.0, 0.0, 1.0]]) @ local
        return full[:2]

    def _property(self, tag: str, name: str, value: str):
        what = self._what(tag, name)
        if name in ("fill", "stroke", "color"):
            return self._paint(what, value, name == "color")
        if name == "stroke-width":
            width = self._length(value, tag, name, math.hypot(*self.view_box[2:]) / math.sqrt(2))
            if width < 0:
                raise SVGError(f"{what} {value!r} is negative")
            return width
        if name in ("fill-opacity", "stroke-opacity"):
            return self._opacity(tag, name, value)
        if value.lower() not in _KEYWORDS[name]:
            raise SVGError(f"{what} {value[:40]!r} is not one of {', '.join(_KEYWORDS[name])}")
        return value.lower()

    def _paint(self, what: str, value: str, is_color: bool):
        low = value.lower()
        if low == "currentcolor" and not is_color:
            return _CURRENT
        if low == "none" and not is_color:
            return None
        if low.startswith("url(") and not is_color:
            fallback = value[value.find(")") + 1 :].strip() if ")" in value else ""
            if fallback:
                return self._paint(what, fallback, False)
            self._warn_once("painted url(...) references (gradients, patterns) in black (not supported)")
            return ("#000000", 1.0)
        try:
            return parse_color(value)
        except SVGError as err:
            raise SVGError(f"{what} {err}") from None

    def _opacity(self, tag: str, name: str, value: str) -> float:
        text = value.strip()
        percent = text.endswith("%")
        number = parse_numbers(text[:-1] if percent else text, self._what(tag, name))
        if len(number) != 1:
            raise SVGError(f"{self._what(tag, name)} {value[:40]!r} is not a number")
        return min(max(number[0] / 100 if percent else number[0], 0.0), 1.0)

    def _style(self, ctx: _Context) -> Style:
        p = ctx.properties

        def paint(value) -> tuple[str | None, float]:
            if value == _CURRENT:
                value = p["color"]
            return (None, 1.0) if value is None else value

        fill, fill_alpha = paint(p["fill"])
        stroke, stroke_alpha = paint(p["stroke"])
        return Style(
            fill=fill,
            stroke=stroke,
            stroke_width=float(p["stroke-width"]),
            opacity=ctx.opacity,
            fill_opacity=p["fill-opacity"] * fill_alpha,
            stroke_opacity=p["stroke-opacity"] * stroke_alpha,
            fill_rule=p["fill-rule"],
            stroke_linecap=p["stroke-linecap"],
            stroke_linejoin=p["stroke-linejoin"],
        )

    def _add_shape(self, node: _Node, tag: str, ctx: _Context) -> None:
        attrs = node.attrs
        width, height = self.view_box[2], self.view_box[3]
        diagonal = math.hypot(width, height) / math.sqrt(2)

        def length(name: str, reference: float, default: str = "0") -> float:
            return self._length(attrs.get(name, default), tag, name, reference)

        def radii() -> tuple[float, float]:
            """rx and ry of a rect or ellipse; a missing (or `auto`) one takes the other's value."""
            rx = length("rx", width) if attrs.get("rx", "auto").strip() != "auto" else None
            ry = length("ry", height) if attrs.get("ry", "auto").strip() != "auto" else None
            return (rx if rx is not None else ry or 0.0), (ry if ry is not None else rx or 0.0)

        style = self._style(ctx)
        element: Element
        if tag == "path":
            remaining = self.limits.max_commands - self.commands
            try:
                element = parse_path_data(attrs.get("d", ""), remaining, self._what(tag, "d"))
            except TooManyError as err:
                raise self._over_budget(err.count) from None
            self.commands += len(element.commands)
            element.style = style
        elif tag == "rect":
            w, h = length("width", width), length("height", height)
            rx, ry = radii()
            if min(w, h, rx, ry) < 0:
                return log.debug("%s: skipped a <rect> with a negative size", self.source)
            rx, ry = min(rx, w / 2), min(ry, h / 2)
            element = Rect(length("x", width), length("y", height), w, h, rx, ry, style)
        elif tag == "circle":
            r = length("r", diagonal)
            if r < 0:
                return log.debug("%s: skipped a <circle> with a negative radius", self.source)
            element = Circle(length("cx", width), length("cy", height), r, style)
        elif tag == "ellipse":
            rx, ry = radii()
            if min(rx, ry) < 0:
                return log.debug("%s: skipped an <ellipse> with a negative radius", self.source)
            element = Ellipse(length("cx", width), length("cy", height), rx, ry, style)
        elif tag == "line":
            element = Line(
                length("x1", width), length("y1", height), length("x2", width), length("y2", height), style
            )
        else:
            remaining = self.limits.max_commands - self.commands
            try:
                numbers = parse_numbers(attrs.get("points", ""), self._what(tag, "points"), 2 * remaining + 1)
            except TooManyError as err:
                raise self._over_budget(err.count // 2) from None
            if len(numbers) % 2:
                raise SVGError(f"{self._what(tag, 'points')} has {len(numbers)} numbers; expected x,y pairs")
            if len(numbers) // 2 > remaining:
                raise self._over_budget(len(numbers) // 2)
            self.commands += len(numbers) // 2
            element = (Polygon if tag == "polygon" else Polyline)(np.array(numbers).reshape(-1, 2), style)
        if ctx.matrix is not IDENTITY and not np.array_equal(ctx.matrix, IDENTITY):
            element = transform_element(element, ctx.matrix)
            if not _element_in_range(element):
                raise SVGError(
                    f"{self.source}: a <{tag}> has coordinates beyond {MAX_MAGNITUDE:g} after its transform"
                )
        self.elements.append(element)

    def _over_budget(self, count: int) -> SVGError:
        """The document-level error once an element's `count` commands exceed what the budget had left."""
        total, limit = self.commands + count, self.limits.max_commands
        return SVGError(
            f"{self.source} has at least {total} path commands; the limit is {limit} (max_commands)"
        )
