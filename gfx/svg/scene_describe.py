"""What an SVG shows, in words: its named objects and where they are, else the nearest known concept.

    describe_svg(open("scene.svg").read())
    # 'A scene of 3 objects: small tree (left, bottom), house (center, middle), sun (right, top).'

A scene written by `gfx.svg.scene` names every object with a `<g aria-label="phrase">` (or an `id`); those
labels are read back with their boxes. A drawing without named groups is rendered and compared by the IconCLIP
evaluator with the scene concepts (`gfx.data.scene_layouts.CONCEPTS`); the answer says it is a guess and how
sure it is.
"""

from __future__ import annotations

from gfx.svg.core.document import Document
from gfx.svg.core.geometry import bounding_box
from gfx.svg.core.parse import ParseLimits, parse_svg
from gfx.svg.core.xml_tree import SVG_NAMESPACE, read_xml

DRAWN = frozenset(f"{SVG_NAMESPACE} {t}" for t in ("path", "circle", "ellipse", "rect", "line", "polyline", "polygon"))


def scene_groups(svg: str) -> list[tuple[str, tuple[float, float, float, float] | None]]:
    """(label, box (x0, y0, x1, y1) or None) of each labelled top-level `<g>` of `svg`, in document order.

    Boxes come from the parsed drawing's elements, matched to the groups by count; they are None when the two
    disagree (e.g. `<use>` references)."""
    limits = ParseLimits()
    root = read_xml(svg, "<svg>", limits.max_elements, limits.max_depth)
    document = parse_svg(svg)
    runs = []
    for node in root.children:
        label = node.attrs.get("aria-label") or node.attrs.get("id")
        if node.tag == f"{SVG_NAMESPACE} g" and label:
            runs.append((label, _drawn(node)))
    if sum(n for _, n in runs) != len(document.elements) or any(_drawn(n) for n in root.children
                                                               if n.tag in DRAWN):
        return [(label, None) for label, _ in runs]
    out, start = [], 0
    for label, n in runs:
        box = bounding_box(document.elements[start : start + n])
        out.append((label, None if box is None else tuple(float(v) for v in box)))
        start += n
    return out


def _drawn(node) -> int:
    return (node.tag in DRAWN) + sum(_drawn(child) for child in node.children)


def describe_svg(svg: str, evaluator=None) -> str:
    """A sentence about `svg` (see the module docstring); `evaluator`: an IconCLIP (default: the shipped)."""
    groups = scene_groups(svg)
    if groups:
        view_box = parse_svg(svg).view_box
        parts = [label if box is None else f"{label} ({_where(box, view_box)})" for label, box in groups]
        noun = "object" if len(parts) == 1 else "objects"
        return f"A scene of {len(parts)} {noun}: {', '.join(parts)}."
    return _nearest_concepts(parse_svg(svg), svg, evaluator)


def _where(box, view_box) -> str:
    x, y, w, h = view_box
    cx, cy = ((box[0] + box[2]) / 2 - x) / w, ((box[1] + box[3]) / 2 - y) / h
    column = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "center"
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    return f"{column}, {row}"


def _nearest_concepts(document: Document, svg: str, evaluator) -> str:
    import numpy as np

    from gfx.data.scene_layouts import CONCEPTS
    from gfx.svg.core.normalize import normalize

    visible = len(normalize(document).elements)
    if not visible:
        return "An empty drawing."
    if evaluator is None:
        from gfx.models import model_path
        from gfx.svg.icon_clip import IconCLIP

        evaluator = IconCLIP.from_pretrained(model_path("icon-clip"))
    names = list(CONCEPTS)
    scores = evaluator.encode_texts(names) @ evaluator.encode_images([svg])[0]
    best = np.argsort(-scores)[:3]
    guesses = ", ".join(f"{names[i]} ({scores[i]:.2f})" for i in best)
    return (f"A drawing of {visible} elements with no named objects; nearest scene concepts by "
            f"the IconCLIP evaluator (cosine): {guesses}.")
