"""Captioned scene layouts with exact ground truth, generated procedurally (the SVGCraft layout data).

A caption names one to three groups of icon concepts, each with a count and maybe a size, and relates them
("two small trees left of a house and a sun above the house"). Its ground truth is one box per object on the
unit canvas (origin top left), snapped to a `GRID` x `GRID` lattice, that satisfies every stated relation and size
(`check_layout`), so the same checker scores a model's layouts.

    records = generate_layouts(1000, split="train", seed=0)   # list[LayoutRecord]
    check_layout(records[0].groups, records[0].relations, records[0].boxes)   # {"counts": True, ...}

Splits hold out concept combinations: a caption's split is fixed by the set of concepts it names
(`combo_split`), so test captions combine concepts in ways training never showed. Plain numpy.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GRID = 32
"""Box coordinates are multiples of 1 / GRID of the canvas side."""
MAX_OBJECTS = 8
"""Most objects (boxes) a scene holds."""
CONCEPTS: dict[str, float] = {
    "house": 1.0, "sun": 1.0, "tree": 0.75, "car": 1.6, "cloud": 1.5, "moon": 1.0, "star": 1.0, "dog": 1.2,
    "cat": 1.0, "bird": 1.2, "fish": 1.5, "flower": 0.75, "bicycle": 1.5, "heart": 1.0, "umbrella": 1.0,
    "book": 0.8, "cup": 0.9, "clock": 1.0, "key": 1.4, "lamp": 0.6, "bus": 1.6, "plane": 1.4, "rocket": 0.6,
    "mountain": 1.5, "leaf": 1.0, "box": 1.0, "truck": 1.6, "apple": 1.0, "bell": 0.9, "camera": 1.3,
    "gift": 1.0, "tent": 1.3,
}  # fmt: skip
"""Icon concept names of the corpus (each an icon name there) -> typical width / height of its box."""
PLURALS = {c: {"fish": "fish", "leaf": "leaves", "box": "boxes", "bus": "buses"}.get(c, c + "s") for c in CONCEPTS}
COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
SIZES: dict[str, tuple[float, float]] = {"small": (0.1, 0.2), "medium": (0.22, 0.36), "large": (0.42, 0.6)}
"""Size word -> range of a box's longer side (canvas units); "medium" is what an unsized phrase gets."""
SIZE_WORDS = {"small": "small", "tiny": "small", "little": "small", "large": "large", "big": "large"}
RELATIONS: dict[str, tuple[str, ...]] = {
    "left of": ("left of", "to the left of"),
    "right of": ("right of", "to the right of"),
    "above": ("above", "over"),
    "below": ("below", "under"),
    "inside": ("inside", "in"),
    "next to": ("next to", "beside"),
}
"""Relation -> the phrasings captions use for it."""
TOLERANCE = 1 / GRID
"""Slack of the relation checks: one lattice step."""
NEAR = 0.12
"""Most gap between two boxes that are "next to" each other."""
SPLIT_BUCKETS = {"test": (0,), "val": (1,)}
"""Buckets (of 10) of the concept-combination hash per held-out split; the rest is train."""


@dataclass(frozen=True)
class Group:
    """A noun phrase of a caption: `count` objects of `concept`, sized `size` ("small", "large" or None)."""

    concept: str
    count: int = 1
    size: str | None = None

    @property
    def phrase(self) -> str:
        """How a caption writes it: "two small trees", "a house"."""
        count = {1: "an" if self.concept[0] in "aeiou" else "a", 2: "two", 3: "three"}.get(self.count, str(self.count))
        words = [count, self.size, self.concept if self.count == 1 else PLURALS[self.concept]]
        return " ".join(w for w in words if w)


Relation = tuple[int, str, int]
"""(group a, relation name, group b): every object of group a is `relation` every object of group b."""


@dataclass(frozen=True)
class LayoutRecord:
    """One captioned layout.

    Attributes:
        caption: the text.
        groups: its noun phrases in caption order.
        relations: the stated relations between groups.
        boxes: (N, 4) float64 (x0, y0, x1, y1) on the unit canvas, multiples of 1 / GRID, the objects of
            group 0 first (left to right), then group 1, ...
    """

    caption: str
    groups: tuple[Group, ...]
    relations: tuple[Relation, ...]
    boxes: np.ndarray

    @property
    def owners(self) -> list[int]:
        """The group of each box."""
        return [g for g, group in enumerate(self.groups) for _ in range(group.count)]


# --- checking ------------------------------------------------------------------------------------


def relation_holds(relation: str, a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether box `a` is `relation` box `b`; boxes are (x0, y0, x1, y1)."""
    t = TOLERANCE
    if relation == "left of":
        return a[2] <= b[0] + t
    if relation == "right of":
        return a[0] >= b[2] - t
    if relation == "above":
        return a[3] <= b[1] + t
    if relation == "below":
        return a[1] >= b[3] - t
    if relation == "inside":
        return bool(a[0] >= b[0] - t and a[1] >= b[1] - t and a[2] <= b[2] + t and a[3] <= b[3] + t
                    and area(a) < area(b))
    if relation == "next to":
        gap = max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])
        return -t <= gap <= NEAR and intersection(a, b) <= 0.1 * min(area(a), area(b))
    raise ValueError(f"relation {relation!r} is unknown; use one of {', '.join(RELATIONS)}")


def area(box: Sequence[float]) -> float:
    return max(box[2] - box[0], 0) * max(box[3] - box[1], 0)


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    return max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = intersection(a, b)
    return inter / max(area(a) + area(b) - inter, 1e-12)


def size_of(box: Sequence[float]) -> str:
    """The size class of a box by its longer side: "small", "large" or "medium"."""
    side = max(box[2] - box[0], box[3] - box[1])
    if side <= SIZES["small"][1] + TOLERANCE:
        return "small"
    return "large" if side >= SIZES["large"][0] - TOLERANCE else "medium"


def check_layout(groups: Sequence[Group], relations: Sequence[Relation], boxes: np.ndarray) -> dict[str, bool]:
    """What of a caption a layout honours.

    Args:
        groups, relations: the caption's phrases and relations (`LayoutRecord`).
        boxes: (N, 4) (x0, y0, x1, y1), in group order (as `LayoutRecord.boxes`).

    Returns:
        {"counts": each group has `count` distinct boxes (pairwise IoU < 0.5) inside the canvas,
         "relations": every relation holds for every pair of objects, "sizes": every sized group's boxes have
         that size}.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    owners = np.array([g for g, group in enumerate(groups) for _ in range(group.count)])
    counts = len(owners) == len(boxes) and bool(
        np.all(boxes[:, :2] >= -1e-9) and np.all(boxes[:, 2:] <= 1 + 1e-9) and np.all(boxes[:, 2:] > boxes[:, :2]))
    rows = boxes.tolist()
    if counts:
        counts = all(iou(rows[i], rows[j]) < 0.5 for i, j in itertools.combinations(range(len(boxes)), 2)
                     if owners[i] == owners[j])
    if len(owners) != len(boxes):
        return {"counts": False, "relations": False, "sizes": False}
    relations_ok = all(relation_holds(rel, rows[i], rows[j])
                       for a, rel, b in relations for i in np.flatnonzero(owners == a) for j in np.flatnonzero(owners == b))
    sizes_ok = all(size_of(rows[i]) == group.size for g, group in enumerate(groups) if group.size
                   for i in np.flatnonzero(owners == g))
    return {"counts": bool(counts), "relations": bool(relations_ok), "sizes": bool(sizes_ok)}


# --- generation ----------------------------------------------------------------------------------


def combo_split(concepts: Sequence[str]) -> str:
    """The split of a caption naming `concepts`: "test", "val" or "train", by a hash of the concept set."""
    key = ",".join(sorted(set(concepts)))
    bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10
    return next((split for split, buckets in SPLIT_BUCKETS.items() if bucket in buckets), "train")


def generate_layouts(n: int, split: str = "train", seed: int = 0) -> list[LayoutRecord]:
    """`n` captioned layouts whose concept combinations belong to `split` (reproducible from `seed`)."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split {split!r} is unknown; use train, val or test")
    rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
    out: list[LayoutRecord] = []
    while len(out) < n:
        record = sample_layout(rng, split)
        if record is not None:
            out.append(record)
    return out


def sample_layout(rng: np.random.Generator, split: str = "train") -> LayoutRecord | None:
    """One random captioned layout of `split`'s concept combinations, or None when its boxes could not be placed
    (the caller draws again)."""
    n_groups = int(rng.choice([1, 2, 3], p=[0.15, 0.5, 0.35]))
    concepts = [str(c) for c in rng.choice(list(CONCEPTS), size=n_groups, replace=False)]
    while combo_split(concepts) != split:
        concepts = [str(c) for c in rng.choice(list(CONCEPTS), size=n_groups, replace=False)]
    groups = [Group(c, int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15])),
                    [None, "small", "large"][int(rng.choice(3, p=[0.6, 0.25, 0.15]))]) for c in concepts]
    if sum(g.count for g in groups) > MAX_OBJECTS - 2:
        return None
    relations: list[Relation] = []
    clauses: list[tuple[int, str | None, int]] = []  # (group, relation words or None, anchor) after clause 0
    for g in range(1, n_groups):
        relation = str(rng.choice(list(RELATIONS))) if rng.random() < 0.85 else None
        if relation is None:
            clauses.append((g, None, -1))
            continue
        # clause 1 reads "A rel B" (group 0 rel group 1); later ones "and C rel the A" (group g rel an earlier one)
        subject, anchor = (0, 1) if g == 1 else (g, int(rng.integers(g)))
        if relation == "inside" and any(rel == "inside" and anchor in (a, b) for a, rel, b in relations):
            relation = "above"
        if relation in ("inside", "next to") and groups[anchor].count > 1:
            relation = str(rng.choice(list(RELATIONS)[:4]))  # containers and neighbours are single objects
        if relation == "inside":
            groups[anchor] = Group(groups[anchor].concept, 1, "large")
            groups[subject] = Group(groups[subject].concept, min(groups[subject].count, 2), "small")
        relations.append((subject, relation, anchor))
        clauses.append((g, RELATIONS[relation][int(rng.integers(2))], anchor))
    caption = caption_text(groups, clauses)
    boxes = place(groups, relations, rng)
    if boxes is None or not all(check_layout(groups, relations, boxes).values()):
        return None
    return LayoutRecord(caption, tuple(groups), tuple(relations), boxes)


def caption_text(groups: Sequence[Group], clauses: Sequence[tuple[int, str | None, int]]) -> str:
    """The caption of `groups` joined by clauses (group, relation words or None for a bare "and", anchor):
    the first reads "A rel B", later ones "and C rel the A"."""
    words = [groups[0].phrase]
    for g, relation, anchor in clauses:
        if relation is None:
            words.append(f"and {groups[g].phrase}")
        elif g == 1:
            words += [relation, groups[1].phrase]
        else:
            name = groups[anchor].concept if groups[anchor].count == 1 else PLURALS[groups[anchor].concept]
            words.append(f"and {groups[g].phrase} {relation} the {name}")
    return " ".join(words)


def place(groups: Sequence[Group], relations: Sequence[Relation], rng: np.random.Generator,
          tries: int = 40) -> np.ndarray | None:
    """Boxes for every object honouring `relations`: anchors first, each dependent group in the region the
    relation leaves it, no two objects overlapping except a contained one; None after `tries` failures."""
    depends = {a: (rel, b) for a, rel, b in relations}
    order = sorted(range(len(groups)), key=lambda g: _depth(g, depends))
    for _ in range(tries):
        placed: dict[int, list[np.ndarray]] = {}
        for g in order:
            region, container = (0.0, 0.0, 1.0, 1.0), None
            if g in depends:
                rel, b = depends[g]
                region, container = _region(rel, placed[b], rng)
            boxes = _fill(groups[g], region, [x for v in placed.values() for x in v], container, rng)
            if boxes is None:
                break
            placed[g] = sorted(boxes)
        else:
            return np.array([box for g in range(len(groups)) for box in placed[g]])
    return None


def _depth(g: int, depends: dict) -> int:
    depth = 0
    while g in depends and depth <= len(depends):
        g, depth = depends[g][1], depth + 1
    return depth


def _region(relation: str, anchors: list[np.ndarray], rng: np.random.Generator):
    """(region (x0, y0, x1, y1), container box or None) where objects `relation` the anchors may go."""
    lo, hi = np.min(anchors, axis=0).tolist(), np.max(anchors, axis=0).tolist()
    if relation == "left of":
        return (0.0, 0.0, lo[0], 1.0), None
    if relation == "right of":
        return (hi[2], 0.0, 1.0, 1.0), None
    if relation == "above":
        return (0.0, 0.0, 1.0, lo[1]), None
    if relation == "below":
        return (0.0, hi[3], 1.0, 1.0), None
    box = anchors[0]
    if relation == "inside":
        w, h = box[2] - box[0], box[3] - box[1]
        return (box[0] + 0.1 * w, box[1] + 0.1 * h, box[2] - 0.1 * w, box[3] - 0.1 * h), box
    gap = rng.uniform(0, NEAR - 2 * TOLERANCE)  # next to: a band on one side of the anchor
    if rng.random() < 0.5:
        return (max(0.0, box[0] - gap - 0.6), box[1] - 0.1, box[0] - gap, box[3] + 0.1), None
    return (box[2] + gap, box[1] - 0.1, min(1.0, box[2] + gap + 0.6), box[3] + 0.1), None


def _fill(group: Group, region, others: list, container, rng: np.random.Generator,
          tries: int = 60) -> list | None:
    """`group.count` snapped boxes of the group's size inside `region`, overlapping nothing in `others`
    (but the container); None when they do not fit."""
    low, high = SIZES[group.size or "medium"]
    if container is not None:  # a contained object is sized to its container
        side = max(container[2] - container[0], container[3] - container[1])
        low, high = 0.25 * side, min(high, 0.45 * side)
    boxes: list = []
    for _ in range(tries):
        side = rng.uniform(low, high)
        aspect = CONCEPTS[group.concept] * rng.uniform(0.85, 1.15)
        w, h = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
        x0 = rng.uniform(region[0], max(region[0], region[2] - w))
        y0 = rng.uniform(region[1], max(region[1], region[3] - h))
        if w > region[2] - region[0] + TOLERANCE or h > region[3] - region[1] + TOLERANCE:
            continue
        box = snap((x0, y0, x0 + w, y0 + h))
        if box[2] > min(region[2], 1) + TOLERANCE or box[3] > min(region[3], 1) + TOLERANCE \
                or box[0] < max(region[0], 0) - TOLERANCE or box[1] < max(region[1], 0) - TOLERANCE:
            continue
        if any(intersection(box, o) > 0 for o in [*others, *boxes] if container is None or o is not container):
            continue
        boxes.append(box)
        if len(boxes) == group.count:
            return boxes
    return None


def snap(box: Sequence[float]) -> tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) rounded to the lattice inside the unit canvas, at least one step wide and high."""
    x0, y0, x1, y1 = (min(max(round(v * GRID), 0), GRID) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    x0, y0 = min(x0, x1 - 1), min(y0, y1 - 1)
    return x0 / GRID, y0 / GRID, x1 / GRID, y1 / GRID
