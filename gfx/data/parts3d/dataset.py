"""Objects, splits and the on-disk build of the part dataset."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gfx.data.parts3d.builder import LABELS, Builder
from gfx.data.parts3d.categories import CATEGORIES, get_category
from gfx.files import write_bytes, write_text

if TYPE_CHECKING:
    from gfx.mesh.structures import PartMesh

log = logging.getLogger(__name__)

GENERATOR_VERSION = "parts3d-v1"
SPLITS = ("train", "val", "test")
SPLIT_RULE = (
    "bucket = int(sha256(id).hexdigest()[:8], 16) % 100; train if bucket < 90, val if bucket < 95, else test"
)
ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, category): called after each object `build_parts` writes (the CLI convention)."""


@dataclass(frozen=True, eq=False)
class PartObject:
    """One generated object.

    Attributes:
        id: "<category>-<index:06d>", e.g. "chair-000042".
        category, index: what `generate` was called with.
        split: "train", "val" or "test" (`split_of(id)`).
        caption: a sentence describing the sampled parameters.
        mesh: the parts, normalized to [-1, 1]^3, largest box half-surface-area first.
        hidden: names of parts that are mostly occluded by design (a bulb inside a shade).
        params: the sampled parameters (JSON-serializable).
    """

    id: str
    category: str
    index: int
    split: str
    caption: str
    mesh: PartMesh
    hidden: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    @cached_property
    def boxes(self) -> np.ndarray:
        """(K, 6) float32 [center, size] per part, object frame [-1, 1]^3."""
        return self.mesh.boxes()

    @property
    def label_ids(self) -> np.ndarray:
        """(K,) int64 indices of the part labels in `LABELS`."""
        return np.array([LABELS.index(label) for label in self.mesh.labels], dtype=np.int64)

    def part_grids(self, resolution: int = 32, **kwargs) -> np.ndarray:
        """(K, R, R, R) bool, each part voxelized in its own box frame (`gfx.mesh.parts.part_grids`)."""
        from gfx.mesh.parts import part_grids

        return part_grids(self.mesh, resolution, **kwargs)

    def object_grid(self, resolution: int = 64, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """The shared-grid view: (R, R, R) bool occupancy and (R, R, R) int64 part ids over [-1, 1]^3."""
        from gfx.mesh.voxels import voxelize_parts

        return voxelize_parts(self.mesh, resolution, **kwargs)

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
                for p, box in zip(self.mesh, self.boxes, strict=True)
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
    from gfx.mesh.structures import Part, PartMesh

    if index < 0:
        raise ValueError(f"object index must be >= 0, got {index}")
    builder = Builder(np.random.default_rng(_seed(category, index)))
    caption = get_category(category)(builder)
    labels = [label for label, *_ in builder.parts]
    parts = []
    for k, (label, mesh, color, _) in enumerate(builder.parts):
        name = label if labels.count(label) == 1 else f"{label}_{labels[:k].count(label)}"
        parts.append(Part(name, label, mesh.vertices, mesh.faces, color + (255,)))
    hidden = tuple(p.name for p, (*_, is_hidden) in zip(parts, builder.parts, strict=True) if is_hidden)
    mesh = PartMesh(parts).normalized()
    sizes = mesh.boxes()[:, 3:].astype(np.float64)
    half_area = sizes[:, 0] * sizes[:, 1] + sizes[:, 1] * sizes[:, 2] + sizes[:, 2] * sizes[:, 0]
    mesh = PartMesh([mesh[int(k)] for k in np.argsort(-half_area, kind="stable")])
    params = json.loads(json.dumps(builder.params, default=float))
    oid = object_id(category, index)
    return PartObject(oid, category, index, split_of(oid), caption, mesh, hidden, params)


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


def build_parts(
    out_dir: str | Path,
    n_per_category: int = 500,
    progress: ProgressFn | None = None,
    *,
    categories: Iterable[str] | None = None,
    resolution: int = 32,
    glb: bool = True,
    previews: bool = False,
) -> dict:
    """Generate the dataset and write it to `out_dir`.

    Writes:
        objects.jsonl.gz: one `PartObject.record()` per line.
        grids_<R>_<split>.npz: per-part occupancy for models, arrays `ids` (N,), `offsets` (N + 1,)
            (parts of object n are rows offsets[n]:offsets[n+1]), `boxes` (P, 6) float32,
            `labels` (P,) int64 into `LABELS`, `grids` (P, R^3 / 8) uint8 (`np.packbits` of each
            (R, R, R) bool part grid in C order; `np.unpackbits(..., count=R**3)` restores it).
        glb/<id>.glb (if `glb`), previews/<id>.png (if `previews`), manifest.json.

    Args:
        out_dir: output folder (created).
        n_per_category: objects per category (indices 0..n-1).
        progress: optional `progress(done, total, category)` callback.
        categories: subset of `CATEGORIES` (default all).
        resolution: R of the per-part grids.
        glb: also write one GLB per object.
        previews: also write a 4-view PNG per object (about 0.1 s each).

    Returns:
        The manifest dict that was written.
    """
    from gfx.mesh.export import to_glb

    out_dir = Path(out_dir)
    names = list(categories or CATEGORIES)
    for name in names:
        get_category(name)
    records, arrays = (
        [],
        {s: {"ids": [], "offsets": [0], "boxes": [], "labels": [], "grids": []} for s in SPLITS},
    )
    counts = {name: dict.fromkeys(SPLITS, 0) for name in names}
    for category in names:
        for index in range(n_per_category):
            obj = generate(category, index)
            records.append(obj.record())
            counts[category][obj.split] += 1
            a = arrays[obj.split]
            a["ids"].append(obj.id)
            a["offsets"].append(a["offsets"][-1] + len(obj.mesh))
            a["boxes"].append(obj.boxes)
            a["labels"].append(obj.label_ids)
            a["grids"].append(np.packbits(obj.part_grids(resolution).reshape(len(obj.mesh), -1), axis=1))
            if glb:
                write_bytes(out_dir / "glb" / f"{obj.id}.glb", to_glb(obj.mesh))
            if previews:
                from gfx.mesh.render import preview

                preview(obj.mesh, out_dir / "previews" / f"{obj.id}.png", size=128)
            if progress:
                progress(index + 1, n_per_category, category)
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    write_bytes(out_dir / "objects.jsonl.gz", gzip.compress(lines.encode("utf-8"), mtime=0))
    for split, a in arrays.items():
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            ids=np.array(a["ids"], dtype=str),
            offsets=np.array(a["offsets"], dtype=np.int64),
            boxes=np.concatenate(a["boxes"]) if a["boxes"] else np.zeros((0, 6), np.float32),
            labels=np.concatenate(a["labels"]) if a["labels"] else np.zeros(0, np.int64),
            grids=np.concatenate(a["grids"]) if a["grids"] else np.zeros((0, resolution**3 // 8), np.uint8),
        )
        write_bytes(out_dir / f"grids_{resolution}_{split}.npz", buffer.getvalue())
    manifest = {
        "generator": GENERATOR_VERSION,
        "categories": names,
        "n_per_category": n_per_category,
        "counts": counts,
        "split_rule": SPLIT_RULE,
        "resolution": resolution,
        "labels": list(LABELS),
        "built": datetime.date.today().isoformat(),
    }
    write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    log.info("wrote %d objects to %s", len(records), out_dir)
    return manifest


def load_part_grids(path: str | Path) -> dict[str, np.ndarray]:
    """Read a `grids_<R>_<split>.npz` of `build_parts`, unpacking `grids` to (P, R, R, R) bool."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    r = round(int(arrays["grids"].shape[1] * 8) ** (1 / 3))
    arrays["grids"] = np.unpackbits(arrays["grids"], axis=1, count=r**3).reshape(-1, r, r, r).astype(bool)
    return arrays
