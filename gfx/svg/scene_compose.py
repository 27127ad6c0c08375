"""Text -> multi-object SVG scene (SVGCraft): a layout, an icon per object in its box, a joint refinement.

    result = compose_scene("two trees left of a house and a sun above the house", seed=0)
    result.svg        # one <svg>, one <g id="object-K-phrase" aria-label="phrase"> per object
    result.info["objects"]   # [{"phrase", "box"}, ...] in paint order

Steps of `compose_scene`:
1. layout: `SVGCraftLayout` gives one box per object (`gfx.svg.svgcraft`);
2. drawing: each phrase's objects come from the IconShop model in one batch ("outline" style by default), or,
   with `mode="primitives"`, as circles, rects and lines;
3. placement: each drawing is fitted into its box (aspect kept, centred) on the `CANVAS`-unit scene, every
   stroke set to one scene-wide width (a coherent stroke width across objects);
4. paint order: largest box first (SVGCraft composes its per-box latents largest first);
5. refinement: opacity modulation of overlapping objects with the soft rasterizer (`scene_refine`);
6. one document, one named group per object.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from gfx.data.scene_layouts import area
from gfx.svg.core.document import Circle, Document, Line, Rect, Style
from gfx.svg.core.normalize import normalize
from gfx.svg.core.result import SVGResult

CANVAS = 96.0
"""Side of a scene's viewBox, `0 0 96 96` (four corpus icons across at their own size)."""
MODES = ("icons", "primitives")
DROP_BELOW = 0.25
"""Elements the refinement fades below this opacity are dropped (unless that would empty their object)."""
ROUND = frozenset({"sun", "moon", "clock", "apple", "ball", "star", "heart", "flower", "cloud", "bell"})
"""Concepts a primitive scene draws as a circle (others: a rounded rect; trees and houses get a few lines)."""


@dataclass(frozen=True)
class SceneConfig:
    """How a scene is drawn.

    Attributes:
        mode: "icons" (the IconShop model) or "primitives" (circles, rects, lines).
        style: the icons' drawing style ("outline" or "filled").
        stroke_width: every stroke's width, scene units.
        refine_steps: opacity-modulation steps (0: none).
        refine_size: soft-render side in pixels.
        margin: share of a box left empty on each side.
    """

    mode: str = "icons"
    style: str = "outline"
    stroke_width: float = 1.5
    refine_steps: int = 20
    refine_size: int = 64
    margin: float = 0.04


def compose_scene(prompt: str, seed: int | None = None, config: SceneConfig = SceneConfig(), *,
                  layout_model=None, icon_model: str | None = None) -> SVGResult:
    """The scene of `prompt` (ScenePromptError when it names no known object).

    Args:
        layout_model: an `SVGCraftLayout`, a layout directory or a local causal-LM directory (default: the shipped
            layout model).
        icon_model: an IconShop directory (default: the shipped one).
    """
    from gfx.svg.scene_refine import modulate_opacity
    from gfx.svg.svgcraft import load_default, object_phrase

    if config.mode not in MODES:
        raise ValueError(f"mode {config.mode!r} is unknown; use one of {', '.join(MODES)}")
    start = time.perf_counter()
    # 1. layout
    layouts = layout_model if callable(layout_model) else load_default(None if layout_model is None else str(layout_model))
    layout = layouts(prompt, seed=seed)
    groups, owners = layout.prompt.groups, layout.owners
    boxes = layout.boxes * CANVAS
    # 2. drawings, all objects in one batch
    concepts = [groups[g].concept for g in owners]
    if config.mode == "primitives":
        drawings = [primitive(c) for c in concepts]
    else:
        drawings = icon_drawings(concepts, seed, config.style, icon_model)
    # 3. placement and one stroke width; 4. largest box first
    placed = [place_in_box(d, box, config.stroke_width, config.margin) for d, box in zip(drawings, boxes, strict=True)]
    order = sorted(range(len(placed)), key=lambda i: -area(boxes[i]))
    placed, boxes, owners = [placed[i] for i in order], boxes[order], [owners[i] for i in order]
    # 5. opacity modulation where objects overlap
    opacities = modulate_opacity(placed, boxes, steps=config.refine_steps, size=config.refine_size)
    elements, runs = [], []
    for doc, alpha, owner in zip(placed, opacities, owners, strict=True):
        floor = DROP_BELOW if (alpha >= DROP_BELOW).any() else -1.0  # an object never loses every element
        kept = [e if a > 0.95 else _with_opacity(e, max(round(float(a), 2), DROP_BELOW))
                for e, a in zip(doc.elements, alpha, strict=True) if a >= floor]
        elements += kept
        runs.append((object_phrase(groups[owner]), len(kept)))
    # 6. one document, a group per object
    objects = [{"phrase": phrase, "box": [round(float(v), 2) for v in box]} for (phrase, _), box in zip(runs, boxes,
                                                                                                          strict=True)]
    info = {"seed": seed, "mode": config.mode, "objects": objects, "layout_seconds": layout.info["seconds"],
            "dropped_elements": sum(len(d.elements) for d in placed) - len(elements),
            "seconds": time.perf_counter() - start}
    return SVGResult(Document((0.0, 0.0, CANVAS, CANVAS), elements), layout.tokens, prompt, info,
                     groups=tuple(runs))


def icon_drawings(concepts: list[str], seed: int | None, style: str, model: str | None) -> list[Document]:
    """An IconShop drawing (24-unit document) per concept, sampled in one batch."""
    from gfx.svg.iconshop import load_default

    return [r.document for r in load_default(None if model is None else str(model)).batch(concepts, seed, style=style)]


def place_in_box(drawing: Document, box: np.ndarray, stroke_width: float, margin: float) -> Document:
    """`drawing` fitted into `box` (x0, y0, x1, y1, scene units; aspect kept, centred), every stroke
    `stroke_width` wide, in the scene's viewBox."""
    x0, y0, x1, y1 = (float(v) for v in box)
    pad = margin * max(x1 - x0, y1 - y0)
    inner = (x0 + pad, y0 + pad, max(x1 - x0 - 2 * pad, 1e-3), max(y1 - y0 - 2 * pad, 1e-3))
    fitted = normalize(drawing, view_box=inner, to_paths=False, order="document")
    elements = [_with_style(e, stroke_width=stroke_width) if e.style.stroke is not None else e
                for e in fitted.elements]
    return Document((0.0, 0.0, CANVAS, CANVAS), elements)


def primitive(concept: str) -> Document:
    """A primitive drawing of `concept` on the 24-unit icon canvas: circles, rects and lines only."""
    ink = Style(fill=None, stroke="#000000", stroke_width=2.0, stroke_linecap="round", stroke_linejoin="round")
    if concept == "tree":
        elements = [Circle(12, 9, 7, ink), Line(12, 16, 12, 23, ink)]
    elif concept in ("house", "tent"):
        elements = [Rect(5, 11, 14, 12, style=ink), Line(2, 12, 12, 2, ink), Line(12, 2, 22, 12, ink)]
    elif concept in ROUND:
        elements = [Circle(12, 12, 10, ink)]
    else:
        elements = [Rect(2, 5, 20, 14, 2, 2, ink)]
    return Document((0.0, 0.0, 24.0, 24.0), elements)


def _with_style(element, **changes):
    import dataclasses

    return dataclasses.replace(element, style=element.style.replace(**changes))


def _with_opacity(element, opacity: float):
    return _with_style(element, opacity=element.style.opacity * opacity)
