"""Objects and splits of the part dataset, as plain records (numpy arrays, no mesh classes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from gfx.data.parts3d.builder import LABELS, Builder
from gfx.data.parts3d.categories import CATEGORIES, get_category

GENERATOR_VERSION = "parts3d-v1"
SPLITS = ("train", "val", "test")
SPLIT_RULE = (
    "bucket = int(sha256(id).hexdigest()[:8], 16) % 100; train if bucket < 90, val if bucket < 95, else test"
)


@dataclass(frozen=True, eq=False)
class PartRecord:
    """One part of an object.

    Attributes:
        name: unique within its object, e.g. "leg_2".
        label: one of `LABELS`, e.g. "leg".
        vertices: (V, 3) float32; faces: (F, 3) int64, closed and outward-oriented.
        color: RGBA, 0..255.
    """

    name: str
    label: str
    vertices: np.ndarray
    faces: np.ndarray
    color: tuple[int, int, int, int]


def part_boxes(parts: Sequence[PartRecord]) -> np.ndarray:
    """(K, 6) float32 axis-aligned box per part, [center xyz, size xyz]."""
    lo = np.stack([p.vertices.min(0) for p in parts])
    hi = np.stack([p.vertices.max(0) for p in parts])
    return np.concatenate([(lo + hi) / 2, hi - lo], axis=1).astype(np.float32)


def normalized(parts: Sequence[PartRecord]) -> list[PartRecord]:
    """The parts centred on their joint bounding box, the longest edge scaled to 2 (inside [-1, 1]^3)."""
    vertices = np.concatenate([p.vertices for p in parts])
    lo, hi = vertices.min(0).astype(np.float64), vertices.max(0).astype(np.float64)
    scale = 2.0 / float((hi - lo).max())
    offset = -(lo + hi) / 2 * scale
    return [
        PartRecord(p.name, p.label, (p.vertices * scale + offset).astype(np.float32), p.faces, p.color)
        for p in parts
    ]


@dataclass(frozen=True, eq=False)
class PartObject:
    """One generated object.

    Attributes:
        id: "<category>-<index:06d>", e.g. "chair-000042".
        category, index: what `generate` was called with.
        split: "train", "val" or "test" (`split_of(id)`).
        caption: a sentence describing the sampled parameters.
        parts: the parts, normalized to [-1, 1]^3, largest box half-surface-area first
            (`gfx.mesh.PartMesh.from_records(obj.parts)` makes a mesh of them).
        hidden: names of parts that are mostly occluded by design (a bulb inside a shade).
        params: the sampled parameters (JSON-serializable).
    """

    id: str
    category: str
    index: int
    split: str
    caption: str
    parts: tuple[PartRecord, ...]
    hidden: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    @cached_property
    def boxes(self) -> np.ndarray:
        """(K, 6) float32 [center, size] per part, object frame [-1, 1]^3."""
        return part_boxes(self.parts)

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.parts]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parts]

    @property
    def label_ids(self) -> np.ndarray:
        """(K,) int64 indices of the part labels in `LABELS`."""
        return np.array([LABELS.index(label) for label in self.labels], dtype=np.int64)

    def record(self) -> dict:
        """JSON-serializable metadata (everything except the geometry)."""
        return {
            "id": self.id,
            "category": self.category,
            "index": self.index,
            "split": self.split,
            "caption": self.caption,
            "parts": [
                {
                    "name": p.name,
                    "label": p.label,
                    "color": list(p.color),
                    "box": [round(float(v), 6) for v in box],
                    "hidden": p.name in self.hidden,
                }
                for p, box in zip(self.parts, self.boxes, strict=True)
            ],  # fmt: skip
            "params": self.params,
        }


def object_id(category: str, index: int) -> str:
    return f"{category}-{index:06d}"


def split_of(object_id: str) -> str:
    """The split of an object id (`SPLIT_RULE`)."""
    bucket = int(hashlib.sha256(object_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 90 else "val" if bucket < 95 else "test"


def _seed(category: str, index: int) -> int:
    digest = hashlib.sha256(f"{GENERATOR_VERSION}:{category}:{index}".encode()).hexdigest()
    return int(digest[:16], 16)


def generate(category: str, index: int) -> PartObject:
    """The object number `index` of `category`; the same on every call and machine."""
    if index < 0:
        raise ValueError(f"object index must be >= 0, got {index}")
    builder = Builder(np.random.default_rng(_seed(category, index)))
    caption = get_category(category)(builder)
    labels = [label for label, *_ in builder.parts]
    parts = []
    for k, (label, mesh, color, _) in enumerate(builder.parts):
        name = label if labels.count(label) == 1 else f"{label}_{labels[:k].count(label)}"
        vertices = np.asarray(mesh.vertices, dtype=np.float64).astype(np.float32)
        faces = np.asarray(mesh.faces, dtype=np.int64)
        parts.append(PartRecord(name, label, vertices, faces, color + (255,)))
    hidden = tuple(p.name for p, (*_, is_hidden) in zip(parts, builder.parts, strict=True) if is_hidden)
    parts = normalized(parts)
    sizes = part_boxes(parts)[:, 3:].astype(np.float64)
    half_area = sizes[:, 0] * sizes[:, 1] + sizes[:, 1] * sizes[:, 2] + sizes[:, 2] * sizes[:, 0]
    parts = tuple(parts[int(k)] for k in np.argsort(-half_area, kind="stable"))
    params = json.loads(json.dumps(builder.params, default=float))
    oid = object_id(category, index)
    return PartObject(oid, category, index, split_of(oid), caption, parts, hidden, params)


def iter_objects(
    n_per_category: int, split: str | None = None, categories: Iterable[str] | None = None
) -> Iterator[PartObject]:
    """Objects 0..n_per_category-1 of each category (all categories by default), keeping one split if given."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    for category in categories or CATEGORIES:
        get_category(category)
        for index in range(n_per_category):
            if split is None or split_of(object_id(category, index)) == split:
                yield generate(category, index)
