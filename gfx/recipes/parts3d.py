"""The part dataset on disk and as meshes: `build_parts` writes records, per-part grids, GLBs and previews.

`gfx.data.parts3d` makes the objects as plain records; this module turns them into `PartMesh`es and
voxel grids (`part_mesh`, `object_grid`) and writes the build `gfx data build-parts` makes.
"""

from __future__ import annotations

import datetime
import gzip
import io
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from gfx.data.parts3d import (
    CATEGORIES,
    GENERATOR_VERSION,
    LABELS,
    SPLIT_RULE,
    SPLITS,
    PartObject,
    generate,
    get_category,
)
from gfx.files import write_bytes, write_text
from gfx.mesh.export import to_glb
from gfx.mesh.parts import part_grids
from gfx.mesh.render import preview
from gfx.mesh.structures import PartMesh
from gfx.mesh.voxels import voxelize_parts

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, category): called after each object `build_parts` writes (the CLI convention)."""


def part_mesh(obj: PartObject) -> PartMesh:
    """The object's parts as a `PartMesh` (same arrays, validated)."""
    return PartMesh.from_records(obj.parts)


def object_grid(obj: PartObject, resolution: int = 64, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """The shared-grid view: (R, R, R) bool occupancy and (R, R, R) int64 part ids over [-1, 1]^3."""
    return voxelize_parts(part_mesh(obj), resolution, **kwargs)


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
            mesh = part_mesh(obj)
            a["offsets"].append(a["offsets"][-1] + len(mesh))
            a["boxes"].append(obj.boxes)
            a["labels"].append(obj.label_ids)
            a["grids"].append(np.packbits(part_grids(mesh, resolution).reshape(len(mesh), -1), axis=1))
            if glb:
                write_bytes(out_dir / "glb" / f"{obj.id}.glb", to_glb(mesh))
            if previews:
                preview(mesh, out_dir / "previews" / f"{obj.id}.png", size=128)
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
