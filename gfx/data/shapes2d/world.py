"""A procedural 2D world: captioned scenes of 1-3 coloured shapes with exact ground truth.

A `Scene` is a background palette, a drawing style shared by its objects (outlines, stripes and dots are drawn on
large objects only: a 12 px shape has no room for a texture), its objects (shape, colour, size and a
cell of a 3x3 grid) and an optional implicit mark (a small grey ring in a corner, like a watermark) that captions
never mention. `sample_scene(rng)` draws one from a `WorldConfig`; `caption(scene, rng)` describes it in words;
`gfx.data.shapes2d.raster.render(scene)` paints it; `gfx.data.shapes2d.detect` reads every property back.

    rng = np.random.default_rng(0)
    scene = sample_scene(rng)
    text = caption(scene, rng)         # e.g. "a large red circle to the left of a small blue star"
    image = raster.render(scene)       # (64, 64, 3) uint8
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "heart")
NOVEL_SHAPES = ("cross",)
"""Shapes the world paints and detects on request but never samples or captions: concepts a model trained on the
world has never seen (personalization learns one from a few renders)."""
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (150, 50, 190),
    "orange": (245, 130, 20),
}
PALETTES = {"light": (240, 240, 240), "dark": (30, 30, 35)}
STYLES = ("filled", "outlined", "striped", "dotted")
SIZES = ("small", "large")
CELLS = tuple((row, col) for row in range(3) for col in range(3))
"""Grid cells (row, column), row 0 at the top."""
CELL_WORDS = {
    (0, 0): "top left", (0, 1): "top", (0, 2): "top right",
    (1, 0): "left", (1, 1): "center", (1, 2): "right",
    (2, 0): "bottom left", (2, 1): "bottom", (2, 2): "bottom right",
}  # fmt: skip
CORNERS = ("top left", "top right", "bottom left", "bottom right")
MARK_COLOR = (128, 128, 128)
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


@dataclass(frozen=True)
class Shape2D:
    """One object: `shape` in SHAPES (or NOVEL_SHAPES), `color` in COLORS, `size` in SIZES, `cell` (row, col) of the 3x3 grid."""

    shape: str
    color: str
    size: str
    cell: tuple[int, int]


@dataclass(frozen=True)
class Scene:
    """A whole image.

    Attributes:
        objects: 1-3 objects in distinct cells.
        style: how every object is drawn (STYLES).
        palette: the background (PALETTES).
        mark: the corner of the implicit mark (CORNERS), or None.
    """

    objects: tuple[Shape2D, ...]
    style: str = "filled"
    palette: str = "light"
    mark: str | None = None


@dataclass(frozen=True)
class WorldConfig:
    """Probabilities of the scene sampler (every behaviour switch a named field).

    Attributes:
        object_counts: weights of 1, 2 and 3 objects.
        same_kind_prob: for several objects, the chance they are copies of one shape and colour (a count scene).
        style_weights: weights of STYLES.
        dark_prob: chance of the dark palette.
        mark_prob: chance of the implicit corner mark.
        position_prob: chance a single-object caption names the object's cell.
    """

    object_counts: tuple[float, float, float] = (0.5, 0.35, 0.15)
    same_kind_prob: float = 0.25
    style_weights: tuple[float, ...] = (0.55, 0.15, 0.15, 0.15)
    dark_prob: float = 0.15
    mark_prob: float = 0.0
    position_prob: float = 0.3


def sample_scene(rng: np.random.Generator, config: WorldConfig = WorldConfig()) -> Scene:
    """A random scene of `config`'s world."""
    n = int(rng.choice([1, 2, 3], p=np.asarray(config.object_counts) / sum(config.object_counts)))
    cells = [CELLS[i] for i in rng.choice(len(CELLS), size=n, replace=False)]
    kind = (SHAPES[rng.integers(len(SHAPES))], list(COLORS)[rng.integers(len(COLORS))])
    same = n > 1 and rng.random() < config.same_kind_prob
    style = STYLES[int(rng.choice(len(STYLES), p=np.asarray(config.style_weights) / sum(config.style_weights)))]
    sizes = rng.integers(2, size=n) if style == "filled" else np.ones(n, int)  # a texture needs a large object
    objects = []
    for cell, size in zip(cells, sizes[:1].repeat(n) if same else sizes, strict=True):
        shape, color = kind if same else (SHAPES[rng.integers(len(SHAPES))], list(COLORS)[rng.integers(len(COLORS))])
        objects.append(Shape2D(shape, color, SIZES[size], cell))
    return Scene(
        tuple(objects),
        style,
        "dark" if rng.random() < config.dark_prob else "light",
        CORNERS[rng.integers(4)] if rng.random() < config.mark_prob else None,
    )


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(obj: Shape2D, style: str, with_size: bool = True) -> str:
    """'a large striped red circle' (style words: filled is unsaid)."""
    words = ([obj.size] if with_size else []) + ([style] if style != "filled" else []) + [obj.color, obj.shape]
    return f"{article(words[0])} {' '.join(words)}"


def relation(a: Shape2D, b: Shape2D) -> str | None:
    """'to the left of', 'to the right of', 'above' or 'below' when the cells say so unambiguously."""
    (ra, ca), (rb, cb) = a.cell, b.cell
    if ra == rb:
        return "to the left of" if ca < cb else "to the right of"
    if ca == cb:
        return "above" if ra < rb else "below"
    return None


def phrase_objects(scene: Scene, phrases: int) -> list[tuple[Shape2D, ...]]:
    """The objects each of `caption`'s object phrases names, in order: one phrase per object, or one plural phrase
    ("two large red circles") for all of them. `phrases`: how many object phrases the caption has."""
    if phrases == len(scene.objects):
        return [(o,) for o in scene.objects]
    if phrases == 1:
        return [scene.objects]
    raise ValueError(f"a caption of {len(scene.objects)} objects has {phrases} object phrases; expected "
                     f"{len(scene.objects)} or 1")


def caption(scene: Scene, rng: np.random.Generator | None = None, config: WorldConfig = WorldConfig()) -> str:
    """A sentence naming every object's shape, colour and size, the style, a dark background, counts of copies and
    the relation of two objects (positions of a single object with `position_prob`). The mark is never named."""
    rng = rng or np.random.default_rng(0)
    objs, style = scene.objects, scene.style
    first = objs[0]
    if len(objs) > 1 and all((o.shape, o.color, o.size) == (first.shape, first.color, first.size) for o in objs):
        words = [first.size] + ([style] if style != "filled" else []) + [first.color, first.shape + "s"]
        text = f"{NUMBER_WORDS[len(objs)]} {' '.join(words)}"
    elif len(objs) == 2 and (rel := relation(*objs)) is not None:
        text = f"{noun_phrase(objs[0], style)} {rel} {noun_phrase(objs[1], style)}"
    elif len(objs) == 1:
        text = noun_phrase(first, style)
        if rng.random() < config.position_prob:
            where = CELL_WORDS[first.cell]
            text += " in the center" if where == "center" else f" at the {where}"
    else:
        text = ", ".join(noun_phrase(o, style) for o in objs[:-1]) + f" and {noun_phrase(objs[-1], style)}"
    return text + (" on a dark background" if scene.palette == "dark" else "")
