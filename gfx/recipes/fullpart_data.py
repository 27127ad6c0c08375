"""FullPart training arrays (captions, boxes, labels, per-part and shared grids) and the batches drawn from them.

`field_arrays(split, n_per_category)` builds, once per split (cached as .npz under `.cache/parts3d`):

    ids (N,) str, captions (N,) str, categories (N,) int64 into `CATEGORIES`, text (N, 384) float32 MiniLM
    sentence embeddings, offsets (N + 1,) int64 (parts of object n are rows offsets[n]:offsets[n+1]),
    boxes (P, 6) float32 [center, size], labels (P,) int64 into `LABELS`,
    part_grids (P, R^3 / 8) uint8: each part voxelized in its own *box frame* (the box stretched to
        [-1, 1]^3, R cells along every edge; `np.packbits` of the (R, R, R) bool grid in C order),
    object_ids (N, Ro^3) uint8: the shared object grid over [-1, 1]^3, cell = part index + 1 (0 = empty).

Grids stay packed in memory (a 32^3 part is 4 KB) and are unpacked per batch by `PartPoints`, which
draws query points and their occupancy for either frame.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
import torch

from gfx.files import write_bytes
from gfx.paths import cache_dir

log = logging.getLogger(__name__)

CACHE_DIR = cache_dir("parts3d")
"""Where built training arrays are cached (`gfx.paths.cache_dir`; not committed)."""


CLAUSE_SPLIT = re.compile(r":\s*|,\s*(?:and\s+)?|\s+and\s+|\s+with\s+")
"""Where a procedural caption separates its head ("a pine chair") from its feature clauses ("four round legs")."""


def shortened_caption(caption: str, rng: np.random.Generator, keep: float = 0.5) -> str:
    """The caption's head with each feature clause kept with probability `keep` ("a pine chair with four round legs,
    a tilted slatted backrest and armrests" -> "a pine chair with armrests"): short prompts like a user's, for a
    layout model that must still write every part the object has."""
    head, *clauses = [c for c in CLAUSE_SPLIT.split(caption) if c]
    kept = [c for c in clauses if rng.random() < keep]
    if not kept:
        return head
    return f"{head} with {', '.join(kept[:-1])}{' and ' if len(kept) > 1 else ''}{kept[-1]}"


def box_frame_grid(vertices: np.ndarray, faces: np.ndarray, box: np.ndarray, resolution: int) -> np.ndarray:
    """(R, R, R) bool occupancy of one part in its box frame (box stretched to [-1, 1]^3, "filled")."""
    from gfx.mesh.parts import to_box_frame
    from gfx.mesh.voxels import voxelize

    return voxelize(to_box_frame(vertices, box), faces, resolution, (0.0, 0.0, 0.0), 2.0, mode="filled")


def field_arrays(
    split: str,
    n_per_category: int,
    *,
    part_resolution: int = 32,
    object_resolution: int = 32,
    cache_dir: str | Path | None = CACHE_DIR,
    progress=None,
) -> dict[str, np.ndarray]:
    """The arrays of one split (module docstring), built from objects 0..n_per_category-1 of each category."""
    from gfx.backbones.text_encoder import text_encoder
    from gfx.data.parts3d import CATEGORIES, GENERATOR_VERSION, iter_objects
    from gfx.mesh.voxels import voxelize_parts
    from gfx.recipes.parts3d import part_mesh

    path = None
    if cache_dir is not None:
        name = f"field-{GENERATOR_VERSION}-{n_per_category}-{part_resolution}-{object_resolution}-{split}.npz"
        path = Path(cache_dir) / name
        if path.is_file():
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
    ids, captions, categories, offsets, boxes, labels, grids, objects = [], [], [], [0], [], [], [], []
    for n, obj in enumerate(iter_objects(n_per_category, split=split)):
        mesh = part_mesh(obj)
        ids.append(obj.id)
        captions.append(obj.caption)
        categories.append(list(CATEGORIES).index(obj.category))
        offsets.append(offsets[-1] + len(mesh))
        boxes.append(obj.boxes)
        labels.append(obj.label_ids)
        grids += [
            np.packbits(box_frame_grid(p.vertices, p.faces, box, part_resolution).reshape(-1))
            for p, box in zip(mesh, obj.boxes, strict=True)
        ]
        objects.append((voxelize_parts(mesh, object_resolution)[1] + 1).astype(np.uint8).reshape(-1))
        if progress is not None:
            progress(n + 1, 0, obj.category)
    arrays = {
        "ids": np.array(ids, dtype=str),
        "captions": np.array(captions, dtype=str),
        "categories": np.array(categories, dtype=np.int64),
        "text": text_encoder().embed_many(captions),
        "offsets": np.array(offsets, dtype=np.int64),
        "boxes": np.concatenate(boxes).astype(np.float32),
        "labels": np.concatenate(labels).astype(np.int64),
        "part_grids": np.stack(grids),
        "object_ids": np.stack(objects),
    }
    if path is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        write_bytes(path, buffer.getvalue())
        log.info("cached %d %s objects in %s", len(ids), split, path)
    return arrays


def part_owner(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(P,) object row and (P,) index within its object of every part row."""
    counts = np.diff(arrays["offsets"])
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - arrays["offsets"][owner]


class PartPoints:
    """`(epoch, start) -> batches` of parts with query points and their occupancy (a `Batches`-like iterator).

    Each batch holds `batch_size` parts drawn at random and `points` queries per part: half uniform over
    the frame, half near the part's surface (cells whose 6-neighbourhood changes occupancy), jittered
    within their cell. Targets are the occupancy of the cell a point falls in.

        "points" (B, N, 3) in the frame's [-1, 1]^3, "occupancy" (B, N) float, "text" (B, 384),
        "boxes" (B, 6), "labels" (B,) long

    Args:
        arrays: `field_arrays` output.
        frame: "box" (each part in its own stretched box grid) or "object" (the shared object grid).
    """

    def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, points: int = 1024, frame: str = "box",
                 seed: int = 0, batches_per_epoch: int = 500):
        if frame not in ("box", "object"):
            raise ValueError(f"frame must be 'box' or 'object', got {frame!r}")
        self.arrays, self.batch_size, self.points, self.frame = arrays, batch_size, points, frame
        self.seed, self.batches_per_epoch = seed, batches_per_epoch
        self.owner, self.index = part_owner(arrays)
        self.resolution = round((arrays["part_grids"].shape[1] * 8) ** (1 / 3))
        self.object_resolution = round(arrays["object_ids"].shape[1] ** (1 / 3))

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __call__(self, epoch: int, start: int = 0):
        for b in range(start, self.batches_per_epoch):
            yield self.batch(np.random.default_rng((self.seed, epoch, b)))

    def grids(self, rows: np.ndarray) -> np.ndarray:
        """(B, R, R, R) bool target grids of part rows in this frame."""
        if self.frame == "box":
            r = self.resolution
            bits = np.unpackbits(self.arrays["part_grids"][rows], axis=1, count=r**3)
            return bits.reshape(-1, r, r, r).astype(bool)
        r = self.object_resolution
        cells = self.arrays["object_ids"][self.owner[rows]]
        return (cells == (self.index[rows] + 1)[:, None]).reshape(-1, r, r, r)

    def batch(self, rng: np.random.Generator, rows: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        if rows is None:
            rows = rng.integers(0, len(self.owner), self.batch_size)
        grids = self.grids(rows)
        r = grids.shape[1]
        points = np.empty((len(rows), self.points, 3), np.float32)
        targets = np.empty((len(rows), self.points), np.float32)
        half = self.points // 2
        for i, grid in enumerate(grids):
            surface = np.argwhere(boundary(grid))
            cells = rng.integers(0, r, (self.points, 3))
            if len(surface):
                cells[half:] = surface[rng.integers(0, len(surface), self.points - half)]
            points[i] = (cells + rng.random((self.points, 3))) / r * 2 - 1
            targets[i] = grid[cells[:, 0], cells[:, 1], cells[:, 2]]
        owner = self.owner[rows]
        return {
            "points": torch.from_numpy(points),
            "occupancy": torch.from_numpy(targets),
            "text": torch.from_numpy(self.arrays["text"][owner]),
            "boxes": torch.from_numpy(self.arrays["boxes"][rows]),
            "labels": torch.from_numpy(self.arrays["labels"][rows]),
        }


def boundary(grid: np.ndarray) -> np.ndarray:
    """(R, R, R) bool: cells whose occupancy differs from one of their 6 neighbours (edge-padded)."""
    padded = np.pad(grid, 1, mode="edge")
    inner = padded[1:-1, 1:-1, 1:-1]
    out = np.zeros_like(grid)
    for axis in range(3):
        for shift in (-1, 1):
            out |= np.roll(padded, shift, axis=axis)[1:-1, 1:-1, 1:-1] != inner
    return out
