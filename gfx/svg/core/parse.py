"""Parse untrusted SVG text into a flat `Document` in the file's own viewBox coordinates.

Plain numpy, no torch. Safety: the XML is read by `gfx.svg.core.xml_tree` (expat with a defusedxml-equivalent
guard: no entities, no DTD subset, nothing fetched). `ParseLimits` bounds the input size (checked before
parsing), the element count and nesting depth (checked while reading, so an oversized input fails fast), the
path command and gradient stop count, and the elements drawn once `<use>`, clip-path and mask references are
expanded (counted on the tree before anything is built, so a `<use>` or mask bomb and a reference cycle are
refused, not drawn; the depth of the expanded tree is bounded too). The path-data,
number and transform lexers (`gfx.svg.core.path_data`, `gfx.svg.core.numbers`, `gfx.svg.core.transform`) are
anchored regexes over a moving position, so their time is linear in the input. Every refusal raises `SVGError`
with a one-line message naming the source, the value, the limit and the field.

Semantics: presentation attributes and `style="..."` properties inherit through `<svg>`, `<g>` and `<use>`
(opacity multiplies down the tree, exact unless a group's elements overlap), `currentColor` resolves to `color`
(black by default), colours become lowercase `#rrggbb` (None for `none`; see `gfx.svg.core.color`), transforms
compose through groups and are applied to the geometry and the paint (see `transform_element`). `url(#id)`
paints become gradients (`gfx.svg.core.gradients`); patterns paint their fallback colour, or black with a
warning; a reference to nothing paints nothing. `<use>` draws a copy of
what it references (`<symbol>` and `<svg>` as viewports). `clip-path` and `mask` become `ClipPath` and `Mask`
on every element they cover (a `<g>`'s on each of its elements; objectBoundingBox units use the control-point
box of the elements drawn). Containers that do not paint (`defs`, `clipPath`, `mask`, `symbol`, `title`,
`desc`, `metadata`, `style`, gradients, ...) are skipped where they stand; so are `display="none"` subtrees and
`visibility="hidden"` elements; `text`, `image`, `filter` and markers are skipped with a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os

import numpy as np

from gfx.svg.core.document import (
    Circle,
    ClipPath,
    Document,
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
from gfx.svg.core.geometry import bounding_box, element_to_path, transform_element
from gfx.svg.core.gradients import GRADIENT_TAGS, in_user_space, read_gradient
from gfx.svg.core.numbers import MAX_MAGNITUDE, TooManyError, in_range, parse_length, parse_numbers
from gfx.svg.core.path_data import parse_path_data
from gfx.svg.core.properties import (
    CURRENT,
    INHERITED,
    INITIAL,
    REFERENCES,
    UNSUPPORTED,
    Url,
    declared,
    parse_opacity,
    parse_property,
)
from gfx.svg.core.transform import IDENTITY, compose, fit_matrix, parse_transform
from gfx.svg.core.xml_tree import Node, check_expansion, href_target, index_ids, local_reference, read_xml

log = logging.getLogger(__name__)

DEFAULT_VIEW_BOX = (0.0, 0.0, 300.0, 150.0)
"""The SVG default viewport size when a file gives neither viewBox nor width/height."""


@dataclasses.dataclass(frozen=True)
class ParseLimits:
    """Bounds on what `parse_svg` accepts.

    Attributes:
        max_bytes: input size in bytes (UTF-8 for text), checked before parsing.
        max_elements: XML elements of any kind.
        max_depth: element nesting depth (the root `<svg>` is depth 1); twice as deep once `<use>`,
            clip-path and mask references are expanded.
        max_commands: path commands in the document, implicit repeats included; each
            polyline/polygon point and each gradient stop counts as one.
        max_expanded_elements: elements drawn once every `<use>` is replaced by a copy of what it
            references (recursively), clip-path and mask content included; bounds `<use>` and mask bombs.
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
    root = read_xml(data, source, limits.max_elements, limits.max_depth)
    if root.name != "svg":
        namespace, _, tag = root.tag.rpartition(" ")
        shown = f"{{{namespace}}}{tag}" if namespace else tag
        raise SVGError(f"{source} is not SVG: its root element is <{shown}>; expected <svg>")
    ids = index_ids(root)
    check_expansion(root, ids, limits.max_expanded_elements, source, _references)
    return _Builder(source, limits, ids).build(root)


def _references(node: Node) -> list[str]:
    """The ids an element draws besides its children: a `<use>`'s target, its clip path and its mask."""
    found = [href_target(node)] if node.name == "use" else []
    style = node.attrs.get("style", "")
    if "clip-path" in node.attrs or "mask" in node.attrs or "clip-path" in style or "mask" in style:
        own = declared(node.attrs, frozenset(REFERENCES))
        found += [local_reference(own.get(name)) for name in REFERENCES]
    return [ref for ref in found if ref]


def _element_in_range(element: Element) -> bool:
    if isinstance(element, Path):
        numbers = element.coords
    elif isinstance(element, Polyline):
        numbers = element.points
    else:
        numbers = np.array(
            [getattr(element, f.name) for f in dataclasses.fields(element) if f.name != "style"]
        )
    extra = [element.style.stroke_width]
    for paint in (element.style.fill, element.style.stroke):
        if isinstance(paint, LinearGradient | RadialGradient):
            extra += [v for v in dataclasses.astuple(paint) if isinstance(v, float)] + list(paint.transform)
    return in_range(numbers) and in_range(np.array(extra))


# ------------------------------------------------------------------------------------------- building

_SKIPPED = frozenset(
    "defs clipPath mask symbol title desc metadata style linearGradient radialGradient pattern marker filter "
    "script foreignObject font font-face cursor view animate animateMotion animateTransform set".split()
)
_WARNED = frozenset({"text", "image"})
_CONTAINERS = frozenset({"g", "a", "switch"})
_SHAPES = frozenset({"path", "rect", "circle", "ellipse", "line", "polyline", "polygon"})
_VIEWPORTS = ("svg", "symbol")


@dataclasses.dataclass
class _Context:
    matrix: np.ndarray  # (2, 3) user space -> viewBox
    properties: dict  # inherited computed values
    opacity: float  # product of ancestor opacities


class _Builder:
    """Walks the element tree once, resolving styles, transforms and references into flat elements."""

    def __init__(self, source: str, limits: ParseLimits, ids: dict[str, Node]):
        self.source = source
        self.limits = limits
        self.ids = ids
        self.commands = 0
        self.elements: list[Element] = []
        self.view_box = DEFAULT_VIEW_BOX
        self.warned: set[str] = set()
        self.clipping = False  # building a clip path's content: geometry and clip-rule only
        self.resolved: dict[tuple, object] = {}  # (id, matrix, box) -> ClipPath tuple or Mask, shared
        self.gradients: dict[tuple, tuple] = {}  # (gradient node, box or None) -> (paint, alpha) in user space
        self.depth = 0  # elements being built, nested: the depth of the tree once references are expanded

    def build(self, root: Node) -> Document:
        self.view_box = self._view_box(root)
        transform = root.attrs.get("transform")
        matrix = parse_transform(transform, self._what("svg", "transform")) if transform else IDENTITY
        self._walk(root, _Context(matrix, dict(INITIAL), 1.0), is_root=True)
        return Document(self.view_box, self.elements)

    def _what(self, tag: str, field: str) -> str:
        return f"{self.source}: <{tag}> {field}"

    def _warn_once(self, message: str) -> None:
        if message not in self.warned:
            self.warned.add(message)
            log.warning("%s: %s", self.source, message)

    def _view_box(self, root: Node) -> tuple[float, float, float, float]:
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

    def _walk(self, node: Node, parent: _Context, is_root: bool = False, viewport: Node | None = None) -> None:
        """Build `node` and its subtree into `self.elements`; `viewport` is the `<use>` that instantiates a
        `<symbol>` or `<svg>` (its width and height size the viewport)."""
        limit = 2 * self.limits.max_depth
        if self.depth >= limit:
            raise SVGError(
                f"{self.source} nests elements more than {limit} deep once <use>, clip-path and mask references are"
                f" expanded; the limit is {limit} (2 x max_depth)"
            )
        self.depth += 1
        try:
            self._walk_node(node, parent, is_root, viewport)
        finally:
            self.depth -= 1

    def _walk_node(self, node: Node, parent: _Context, is_root: bool, viewport: Node | None) -> None:
        tag = node.name
        if not tag or tag in _SKIPPED and not (viewport is not None and tag in _VIEWPORTS):
            return
        if tag in _WARNED:
            self._warn_once(f"skipped <{tag}> elements (not supported)")
            return
        if tag not in _CONTAINERS and tag not in _SHAPES and tag not in _VIEWPORTS and tag != "use":
            log.debug("%s: skipped unknown element <%s>", self.source, tag)
            return
        own = declared(node.attrs)
        for name in UNSUPPORTED.intersection(own):
            if own.pop(name).lower() not in ("none", "0", ""):
                self._warn_once(f"ignored {name} (not supported)")
        if own.get("display", "").lower() == "none":
            return
        ctx = _Context(parent.matrix, dict(parent.properties), parent.opacity)
        for name, value in own.items():
            keeps_parent = value.lower() == "inherit" or name == "color" and value.lower() == "currentcolor"
            if name in ctx.properties and not keeps_parent:
                ctx.properties[name] = self._property(tag, name, value)
        if "opacity" in own and own["opacity"].lower() != "inherit":
            ctx.opacity *= parse_opacity(own["opacity"], self._what(tag, "opacity"))
        if not is_root:
            ctx.matrix = self._local_matrix(node, tag, parent.matrix, viewport)
        start = len(self.elements)
        if tag in _SHAPES:
            if ctx.properties["visibility"] == "visible":
                self._add_shape(node, tag, ctx)
        elif tag == "use":
            self._use(node, ctx)
        else:
            for child in node.children:
                self._walk(child, ctx)
        if not self.clipping and len(self.elements) > start and any(own.get(k) for k in REFERENCES):
            self._attach(own, ctx, start)

    def _use(self, node: Node, ctx: _Context) -> None:
        """Draw what a `<use>` references, placed at its x, y (a missing reference draws nothing)."""
        target = self.ids.get(href_target(node) or "")
        if target is None:
            return
        x, y = (self._length(node.attrs.get(k, "0"), "use", k, self.view_box[2 + i]) for i, k in enumerate("xy"))
        if x or y:
            ctx.matrix = compose(ctx.matrix, np.array([[1.0, 0.0, x], [0.0, 1.0, y]]))
        self._walk(target, ctx, viewport=node if target.name in _VIEWPORTS else None)

    def _local_matrix(self, node: Node, tag: str, matrix: np.ndarray, use: Node | None) -> np.ndarray:
        if tag not in _VIEWPORTS and "transform" not in node.attrs:
            return matrix  # the common case: the parent's matrix, no 3 x 3 arithmetic
        local = np.eye(3)
        if "transform" in node.attrs and tag != "symbol":
            local[:2] = parse_transform(node.attrs["transform"], self._what(tag, "transform"))
        if tag in _VIEWPORTS:  # a nested viewport: place its viewBox (its clipping is not modelled)
            sizing = {**node.attrs, **{k: v for k, v in (use.attrs if use is not None else {}).items() if k in ("width", "height")}}
            x, y = (
                self._length(node.attrs.get(k, "0") if tag == "svg" else "0", tag, k, self.view_box[2 + i])
                for i, k in enumerate("xy")
            )
            w, h = (
                self._length(sizing.get(k, "100%"), tag, k, self.view_box[2 + i])
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

    # --- clip paths and masks -------------------------------------------------------------------
    def _attach(self, declared: dict, ctx: _Context, start: int) -> None:
        """Put the clip path and mask an element declares on every element it drew (from `start` on)."""
        drawn = self.elements[start:]
        box = self._user_box(drawn, ctx.matrix)
        clips: tuple = ()
        masks: tuple = ()
        if (ref := local_reference(declared.get("clip-path"))) is not None:
            clips = self._clip(ref, ctx.matrix, box)
        if (ref := local_reference(declared.get("mask"))) is not None:
            mask = self._mask(ref, ctx.matrix, box)
            masks = () if mask is None else (mask,)
        if clips or masks:
            for element in drawn:
                element.style = element.style.replace(clip=clips + element.style.clip, mask=masks + element.style.mask)

    @staticmethod
    def _user_box(elements: list[Element], matrix: np.ndarray) -> tuple[float, float, float, float] | None:
        """The box of elements drawn in viewBox coordinates, in the user space `matrix` maps from (exact
        without rotation; the box of the mapped box otherwise)."""
        box = bounding_box(elements)
        if box is None or abs(np.linalg.det(matrix[:, :2])) < 1e-300:
            return None
        inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
        corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
        mapped = corners @ inverse[:, :2].T + inverse[:, 2]
        (x0, y0), (x1, y1) = mapped.min(axis=0), mapped.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def _content(self, node: Node, matrix: np.ndarray, clipping: bool) -> list[Element]:
        """The elements a `<clipPath>` or `<mask>` draws in the user space `matrix` maps to the viewBox."""
        own = declared(node.attrs, frozenset(INHERITED))
        ctx = _Context(matrix, dict(INITIAL), 1.0)
        for name, value in own.items():
            if value.lower() != "inherit" and not (name == "color" and value.lower() == "currentcolor"):
                ctx.properties[name] = self._property(node.name, name, value)
        saved = self.elements, self.clipping
        self.elements, self.clipping = [], clipping  # (reference cycles were refused by check_expansion)
        try:
            for child in node.children:
                self._walk(child, ctx)
            return self.elements
        finally:
            self.elements, self.clipping = saved

    def _clip(self, ref: str, matrix: np.ndarray, box) -> tuple[ClipPath, ...]:
        """The clip paths `clip-path="url(#ref)"` gives (its own `clip-path` intersects); () if not a clipPath."""
        node = self.ids.get(ref)
        if node is None or node.name != "clipPath":
            return ()
        units = node.attrs.get("clipPathUnits", "").strip() == "objectBoundingBox"
        key = ("clip", ref, matrix.tobytes(), box if units else None)
        if key not in self.resolved:
            content = matrix
            if units:
                if box is None:
                    return ()
                content = compose(matrix, np.array([[box[2] - box[0], 0, box[0]], [0, box[3] - box[1], box[1]]]))
            if "transform" in node.attrs:
                own = parse_transform(node.attrs["transform"], self._what("clipPath", "transform"))
                content = compose(content, own)
            shapes = [element_to_path(e) for e in self._content(node, content, clipping=True)]
            paths = tuple(Path(p.commands, p.coords, Style(fill_rule=p.style.fill_rule)) for p in shapes)
            outer = local_reference(node.attrs.get("clip-path"))
            nested = self._clip(outer, matrix, box) if outer is not None else ()
            self.resolved[key] = (ClipPath(paths), *nested)
        return self.resolved[key]

    def _mask(self, ref: str, matrix: np.ndarray, box) -> Mask | None:
        """The mask `mask="url(#ref)"` gives; None if `ref` is not a mask."""
        node = self.ids.get(ref)
        if node is None or node.name != "mask":
            return None
        attrs = node.attrs
        user = attrs.get("maskUnits", "").strip() == "userSpaceOnUse"
        user_content = attrs.get("maskContentUnits", "").strip() != "objectBoundingBox"
        key = ("mask", ref, matrix.tobytes(), None if user and user_content else box)
        if key not in self.resolved:
            bbox = (0.0, 0.0, 1.0, 1.0) if box is None else (box[0], box[1], box[2] - box[0], box[3] - box[1])
            frame = (0.0, 0.0, 1.0, 1.0) if user else bbox
            reference = (self.view_box[2], self.view_box[3]) if user else (1.0, 1.0)
            names = (("x", "-10%"), ("y", "-10%"), ("width", "120%"), ("height", "120%"))
            x, y, w, h = (
                self._length(attrs.get(k, d), "mask", k, reference[i % 2]) for i, (k, d) in enumerate(names)
            )
            x0, y0 = frame[0] + x * frame[2], frame[1] + y * frame[3]
            x1, y1 = x0 + w * frame[2], y0 + h * frame[3]
            content = matrix
            if not user_content:
                content = compose(matrix, np.array([[bbox[2], 0, bbox[0]], [0, bbox[3], bbox[1]]]))
            elements = self._content(node, content, clipping=False)
            corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]])
            mapped = corners @ matrix[:, :2].T + matrix[:, 2]
            (x0, y0), (x1, y1) = mapped.min(axis=0), mapped.max(axis=0)
            self.resolved[key] = Mask(tuple(elements), (float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
        return self.resolved[key]

    # --- properties and paint -------------------------------------------------------------------
    def _property(self, tag: str, name: str, value: str):
        return parse_property(name, value, self._what(tag, name), math.hypot(*self.view_box[2:]) / math.sqrt(2))

    def _style(self, ctx: _Context, element: Element) -> Style:
        p = ctx.properties
        if self.clipping:
            return Style(fill_rule=p["clip-rule"])

        def paint(value) -> tuple:
            if value == CURRENT:
                value = p["color"]
            if isinstance(value, Url):
                node = self.ids.get(value.id or "")
                if node is not None and node.name in GRADIENT_TAGS:
                    return self._gradient(node, element)
                if value.fallback is not None:
                    return paint(value.fallback)
                if node is None:
                    return None, 1.0  # a missing reference paints nothing
                self._warn_once(f"painted <{node.name}> references in black (not supported)")
                return "#000000", 1.0
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

    def _gradient(self, node: Node, element: Element) -> tuple:
        """(paint, alpha) of a gradient for one element; read once per gradient (and box, for box units), its
        stops counted against `max_commands`."""
        key = (id(node), None if in_user_space(node, self.ids) else bounding_box([element]))
        if key not in self.gradients:
            paint = read_gradient(node, self.ids, key[1], self.view_box, self.source)
            if isinstance(paint[0], LinearGradient | RadialGradient):
                self.commands += len(paint[0].stops)
                if self.commands > self.limits.max_commands:
                    raise SVGError(
                        f"{self.source} has at least {self.commands} path commands and gradient stops; the limit is"
                        f" {self.limits.max_commands} (max_commands)"
                    )
            self.gradients[key] = paint
        return self.gradients[key]

    # --- shapes ---------------------------------------------------------------------------------
    def _add_shape(self, node: Node, tag: str, ctx: _Context) -> None:
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

        element: Element
        if tag == "path":
            remaining = self.limits.max_commands - self.commands
            try:
                element = parse_path_data(attrs.get("d", ""), remaining, self._what(tag, "d"))
            except TooManyError as err:
                raise self._over_budget(err.count) from None
            self.commands += len(element.commands)
        elif tag == "rect":
            w, h = length("width", width), length("height", height)
            rx, ry = radii()
            if min(w, h, rx, ry) < 0:
                return log.debug("%s: skipped a <rect> with a negative size", self.source)
            rx, ry = min(rx, w / 2), min(ry, h / 2)
            element = Rect(length("x", width), length("y", height), w, h, rx, ry)
        elif tag == "circle":
            r = length("r", diagonal)
            if r < 0:
                return log.debug("%s: skipped a <circle> with a negative radius", self.source)
            element = Circle(length("cx", width), length("cy", height), r)
        elif tag == "ellipse":
            rx, ry = radii()
            if min(rx, ry) < 0:
                return log.debug("%s: skipped an <ellipse> with a negative radius", self.source)
            element = Ellipse(length("cx", width), length("cy", height), rx, ry)
        elif tag == "line":
            element = Line(length("x1", width), length("y1", height), length("x2", width), length("y2", height))
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
            element = (Polygon if tag == "polygon" else Polyline)(np.array(numbers).reshape(-1, 2))
        element.style = self._style(ctx, element)
        check = not isinstance(element.style.fill, str | None) or not isinstance(element.style.stroke, str | None)
        if ctx.matrix is not IDENTITY and not np.array_equal(ctx.matrix, IDENTITY):
            element, check = transform_element(element, ctx.matrix), True
        if check and not _element_in_range(element):
            raise SVGError(f"{self.source}: a <{tag}> has coordinates beyond {MAX_MAGNITUDE:g} after its transform")
        self.elements.append(element)

    def _over_budget(self, count: int) -> SVGError:
        """The document-level error once an element's `count` commands exceed what the budget had left."""
        total, limit = self.commands + count, self.limits.max_commands
        return SVGError(
            f"{self.source} has at least {total} path commands; the limit is {limit} (max_commands)"
        )
