"""Rewrite a `Document` into canonical form: M/L/C/Z paths in a fixed viewBox, invisible parts dropped.

Plain numpy, no torch. `normalize` is a pipeline of small public steps that other modules reuse:
`element_to_path` and `transform_element` (from `gfx.svg.core.geometry`), `prune_element` (drop what paints
nothing), `canonical_style` and `canonical_order`.

Canonical order (every rule keeps the rendering identical):

1. Within a path, each closed subpath (one that ends in Z) starts at its top-left-most vertex: the
   smallest (y, x) among its segment end points, the first one in drawing order on ties. Its segments
   keep their direction (winding is preserved); a final straight segment back to the start is left
   to the Z. Rotating a closed loop changes nothing drawn: fill is the same region and every vertex,
   the start included, gets a join. Open subpaths are never rotated (their caps would move).
2. Within a path, subpaths are sorted by their start point (y, then x; ties by their commands and
   numbers). Fill winding and the stroked outline of one path do not depend on subpath order.
3. Across elements, only runs of consecutive elements with the same `Style` that paints one colour
   (no fill, no stroke, or fill == stroke) are sorted, by the key of their first subpath. Painting one
   colour over itself commutes; reordering different styles, or elements whose fill and stroke differ
   (one's outline may cover the other's fill), could change the picture, so those keep document order.

Clip paths become M/L/C/Z paths and mask content is normalized like the document (document order). A mask
of white, fill-only, unclipped shapes at full opacity is the clip path of their union (and of its region):
it becomes clip paths, exactly (`flatten_mask`).

`normalize` is idempotent: `normalize(normalize(doc)) == normalize(doc)`.
"""

from __future__ import annotations

import math

import numpy as np

from gfx.svg.core.document import (
    ARITY,
    NORMAL_COMMANDS,
    Circle,
    ClipPath,
    Document,
    Element,
    Ellipse,
    Line,
    Mask,
    Path,
    Polyline,
    Rect,
    Style,
)
from gfx.svg.core.geometry import (
    bounding_box,
    element_to_path,
    join_subpaths,
    split_subpaths,
    transform_element,
)
from gfx.svg.core.transform import fit_matrix

ORDERS = ("canonical", "document")


def normalize(
    doc: Document,
    *,
    view_box: tuple[float, float, float, float] | None = (0, 0, 24, 24),
    to_paths: bool = True,
    drop_invisible: bool = True,
    order: str = "canonical",
) -> Document:
    """Return a canonical copy of `doc`; the input is left untouched.

    Args:
        doc: any parsed document.
        view_box: target `(min_x, min_y, width, height)`; the source viewBox is fitted into it keeping
            the aspect ratio, centered (`xMidYMid meet`), stroke widths scaled alike. None keeps the
            source viewBox.
        to_paths: convert every element to a `Path`; when False, circles, rects, lines and the other
            primitives keep their type (only their geometry is mapped). Paths always become M/L/C/Z.
        drop_invisible: drop elements and subpaths that paint nothing (see `prune_element`).
            Styles are always made canonical (see `canonical_style`).
        order: "canonical" (see the module docstring) or "document" (keep the input order).

    Returns:
        A new `Document` in `view_box` coordinates.
    """
    if order not in ORDERS:
        raise ValueError(f"order {order!r} is unknown; use one of {ORDERS}")
    target = tuple(float(v) for v in (view_box if view_box is not None else doc.view_box))
    matrix = fit_matrix(doc.view_box, target)
    elements = _normal_elements(doc.elements, matrix, to_paths, drop_invisible, {}, {})
    result = Document(target, elements)
    return canonical_order(result) if order == "canonical" else result


def _normal_elements(
    elements, matrix, to_paths: bool, drop_invisible: bool, memo: dict, parts: dict
) -> list[Element]:
    """Mapped, canonically styled (and pruned) copies; `memo` and `parts` share the work on clip paths and
    masks that many elements carry."""
    out = []
    for element in elements:
        if to_paths or isinstance(element, Path):
            element = element_to_path(element)
        element = transform_element(element, matrix, memo)
        element.style = _normal_layers(canonical_style(element.style), to_paths, drop_invisible, parts)
        if drop_invisible:
            element = prune_element(element)
            if element is None:
                continue
        out.append(element)
    return out


def _normal_layers(style: Style, to_paths: bool, drop_invisible: bool, parts: dict) -> Style:
    if not style.clip and not style.mask:
        return style

    def once(value, make):
        if id(value) not in parts:
            parts[id(value)] = (value, make(value))  # keeps `value` alive, so its id is not reused
        return parts[id(value)][1]

    clip = [once(c, lambda c: ClipPath(tuple(element_to_path(p) for p in c.paths))) for c in style.clip]
    mask = []
    for m in style.mask:
        m = once(
            m,
            lambda m: Mask(
                tuple(_normal_elements(m.elements, np.eye(3)[:2], to_paths, drop_invisible, {}, parts)),
                m.region,
            ),
        )
        flat = once(m, flatten_mask)
        if flat is None:
            mask.append(m)
        else:
            clip.extend(flat)
    return style.replace(clip=tuple(clip), mask=tuple(mask))


def flatten_mask(mask: Mask) -> tuple[ClipPath, ...] | None:
    """The clip paths equal to `mask`, when there are: every mask element fills white at full opacity, with no
    stroke, clip path or mask. Their union is one clip path, and the mask's region another when they reach
    beyond it. None for any other mask."""
    paths = []
    for element in mask.elements:
        s = element.style
        strokes = s.stroke is not None and s.stroke_opacity > 0 and s.stroke_width > 0
        if s.fill != "#ffffff" or s.fill_opacity < 1 or s.opacity < 1 or strokes or s.clip or s.mask:
            return None
        path = element_to_path(element)
        paths.append(Path(path.commands, path.coords, Style(fill_rule=s.fill_rule)))
    x, y, w, h = mask.region
    box = bounding_box(paths)
    inside = box is None or x <= box[0] and y <= box[1] and box[2] <= x + w and box[3] <= y + h
    region = Path("MLLLZ", [x, y, x + w, y, x + w, y + h, x, y + h])
    return (ClipPath(tuple(paths)),) if inside else (ClipPath(tuple(paths)), ClipPath((region,)))


def canonical_style(style: Style) -> Style:
    """Reset the fields of a paint that is not painted to their defaults (the rendering is unchanged).

    A stroke that paints nothing (none, zero width or zero opacity) becomes None with default width,
    opacity, cap and join; a fill that paints nothing becomes None with default opacity and rule.
    """
    default = Style()
    if style.stroke is None or style.stroke_width <= 0 or style.stroke_opacity <= 0:
        style = style.replace(
            stroke=None,
            stroke_width=default.stroke_width,
            stroke_opacity=default.stroke_opacity,
            stroke_linecap=default.stroke_linecap,
            stroke_linejoin=default.stroke_linejoin,
        )
    if style.fill is None or style.fill_opacity <= 0:
        style = style.replace(fill=None, fill_opacity=default.fill_opacity, fill_rule=default.fill_rule)
    return style


# --------------------------------------------------------------------------------------- invisibility


def prune_element(element: Element) -> Element | None:
    """Drop what paints nothing: return the element without invisible parts, or None.

    An element goes when its style paints nothing (no fill and no stroke, or zero opacity) or its
    geometry is degenerate. From a normalized path, subpaths go when they are a lone M, have zero
    length (kept when stroked with round or square caps, which draw a dot), or are straight and
    unstroked (zero area). A path that is not yet M/L/C/Z is converted first (`element_to_path`).
    """
    style = element.style
    if not style.visible or any(not c.paths for c in style.clip):
        return None
    stroked = style.stroke is not None and style.stroke_opacity > 0 and style.stroke_width > 0
    filled = style.fill is not None and style.fill_opacity > 0
    dots = stroked and style.stroke_linecap != "butt"
    if isinstance(element, Circle):
        return element if element.r > 0 else None
    if isinstance(element, Ellipse):
        return element if element.rx > 0 and element.ry > 0 else None
    if isinstance(element, Rect):
        return element if element.width > 0 and element.height > 0 else None
    if isinstance(element, Line):
        kind = _shape_kind(np.array([[element.x1, element.y1], [element.x2, element.y2]]))
        return element if stroked and kind != "point" or dots else None
    if isinstance(element, Polyline):  # Polygon included; an open polyline is filled too
        if len(element.points) < 2:
            return None
        kind = _shape_kind(element.points)
        return element if filled and kind == "area" or stroked and kind != "point" or dots else None
    if not set(element.commands) <= NORMAL_COMMANDS:
        element = element_to_path(element)
    pieces = split_subpaths(element)
    kept = []
    for piece in pieces:
        kind = "point" if piece.commands == "M" else _shape_kind(piece.coords.reshape(-1, 2))
        if piece.commands == "M" or kind == "point" and not dots or kind == "line" and not stroked:
            continue
        kept.append(piece)
    if not kept:
        return None
    return element if len(kept) == len(pieces) else join_subpaths(kept, style)


def _shape_kind(points: np.ndarray) -> str:
    """'point' when all points coincide, 'line' when they are collinear, else 'area'."""
    rel = points - points[0]
    lengths = np.einsum("ij,ij->i", rel, rel)
    far = int(np.argmax(lengths))
    if lengths[far] == 0:
        return "point"
    ux, uy = rel[far]
    cross = np.abs(rel[:, 0] * uy - rel[:, 1] * ux)
    return "line" if cross.max() <= 1e-12 * lengths[far] else "area"


# ------------------------------------------------------------------------------------------- ordering


def canonical_order(doc: Document) -> Document:
    """Return a copy of `doc` in canonical order (rules in the module docstring)."""
    elements = [_canonical_path(e) if isinstance(e, Path) else e for e in doc.elements]
    ordered: list[Element] = []
    i = 0
    while i < len(elements):
        j = i + 1
        style = elements[i].style
        if _paints_one_colour(style):
            while j < len(elements) and elements[j].style == style:
                j += 1
        ordered.extend(sorted(elements[i:j], key=_element_key))
        i = j
    return Document(tuple(doc.view_box), ordered)


def _paints_one_colour(style: Style) -> bool:
    return style.fill is None or style.stroke is None or style.fill == style.stroke


def _element_key(element: Element) -> tuple:
    path = element if isinstance(element, Path) else element_to_path(element)
    return (*_path_key(path), type(element).__name__)


def _path_key(path: Path) -> tuple:
    if not path.commands or path.commands[0] != "M":
        return (math.inf, math.inf, path.commands, ())
    return (path.coords[1], path.coords[0], path.commands, tuple(path.coords.tolist()))


def _canonical_path(path: Path) -> Path:
    if not set(path.commands) <= NORMAL_COMMANDS:
        path = element_to_path(path)
    pieces = sorted((_rotate_closed(p) for p in split_subpaths(path)), key=_path_key)
    return join_subpaths(pieces, path.style)


def _rotate_closed(piece: Path) -> Path:
    """Start a closed subpath at its top-left-most vertex, leaving the final straight edge to Z."""
    cmds = piece.commands
    if len(cmds) < 3 or cmds[0] != "M" or cmds[-1] != "Z" or "Z" in cmds[1:-1] or "M" in cmds[1:]:
        return piece
    start = tuple(piece.coords[:2].tolist())
    segments: list[tuple[str, tuple[float, ...]]] = []
    i = 2
    for cmd in cmds[1:-1]:
        n = ARITY[cmd]
        segments.append((cmd, tuple(piece.coords[i : i + n].tolist())))
        i += n
    if segments[-1][1][-2:] != start:
        segments.append(("L", start))
    vertices = [start] + [s[1][-2:] for s in segments[:-1]]
    k = min(range(len(vertices)), key=lambda v: (vertices[v][1], vertices[v][0]))
    segments = segments[k:] + segments[:k]
    # leave the closing line to Z, unless the segment before it also ends at the start (then the
    # line has zero length and keeping it makes the rule idempotent)
    if segments[-1][0] == "L" and len(segments) > 1 and segments[-2][1][-2:] != vertices[k]:
        segments.pop()
    commands = "M" + "".join(cmd for cmd, _ in segments) + "Z"
    coords = [*vertices[k], *(x for _, numbers in segments for x in numbers)]
    return Path(commands, np.array(coords, dtype=np.float64), piece.style)
