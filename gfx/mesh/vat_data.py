"""Training samples of whole shapes for VAT: outer-surface points with normals and labelled occupancy queries.

A generated object is a set of closed parts that overlap and touch (legs enter the seat, a bulb sits in
its shade). VAT models the object's volume, the union of the parts, so:
- surface samples are taken on every part and kept only where no *other* part contains them, which
  samples the outer surface of the union (`union_surface`);
- a query point is inside when any part contains it (open3d ray casting per part, `union_occupancy`).

`shape_arrays(split, n_per_category)` builds (and caches as .npz) the arrays of one dataset split.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from gfx.files import write_bytes
from gfx.mesh.fullpart_data import CACHE_DIR
from gfx.mesh.structures import PartMesh
from gfx.mesh.voxels import points_inside, sample_surface

log = logging.getLogger(__name__)

NEAR_SURFACE_SIGMAS = (0.01, 0.04)
"""Std devs of the Gaussian offsets of near-surface queries (half of the near queries each)."""


def union_occupancy(mesh: PartMesh, points: np.ndarray) -> np.ndarray:
    """(N,) bool: inside any part of `mesh` (every part must be closed)."""
    inside = np.zeros(len(points), dtype=bool)
    for part in mesh:
        inside |= points_inside(points, part.vertices, part.faces)
    return inside


def union_surface(mesh: PartMesh, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform samples of the outer surface of the union of the parts.

    Returns:
        points: (n, 3) float32; normals: (n, 3) float32 outward face normals.
    """
    rng = np.random.default_rng(seed)
    points, normals, face_index = sample_surface(mesh.verts_packed(), mesh.faces_packed(), 3 * n + 64, seed)
    part_of = mesh.face_parts_packed()[face_index]
    hidden = np.zeros(len(points), dtype=bool)
    for k, part in enumerate(mesh):
        others = part_of != k
        if others.any():
            hidden[others] |= points_inside(points[others], part.vertices, part.faces)
    keep = np.flatnonzero(~hidden)
    if len(keep) == 0:
        keep = np.arange(len(points))
    pick = keep[rng.permutation(len(keep))[:n]] if len(keep) >= n else rng.choice(keep, n)
    return points[pick], normals[pick]


def occupancy_queries(mesh: PartMesh, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Half uniform points in [-1.05, 1.05]^3, half near the surface, with union occupancy labels.

    Returns:
        queries: (n, 3) float32; occupancy: (n,) bool.
    """
    rng = np.random.default_rng(seed + 1)
    n_uniform = n // 2
    uniform = rng.uniform(-1.05, 1.05, size=(n_uniform, 3))
    surface, _ = union_surface(mesh, n - n_uniform, seed + 2)
    sigmas = np.where(np.arange(len(surface)) % 2 == 0, *NEAR_SURFACE_SIGMAS)[:, None]
    near = surface + rng.normal(size=surface.shape) * sigmas
    queries = np.concatenate([uniform, near]).astype(np.float32)
    return queries, union_occupancy(mesh, queries)


def shape_arrays(
    split: str,
    n_per_category: int,
    *,
    n_surface: int = 2048,
    n_queries: int = 4096,
    cache_dir: str | Path | None = CACHE_DIR,
) -> dict[str, np.ndarray]:
    """VAT training arrays of one split of the procedural part dataset (cached as .npz).

    Returns:
        ids (N,) str, captions (N,) str, surface (N, n_surface, 6) float32 [xyz, normal],
        queries (N, n_queries, 3) float32, occupancy (N, n_queries) bool.
    """
    from gfx.data.parts3d import GENERATOR_VERSION, iter_objects

    path = None
    if cache_dir is not None:
        path = (
            Path(cache_dir) / f"vat-{GENERATOR_VERSION}-{n_per_category}-{n_surface}-{n_queries}-{split}.npz"
        )
        if path.is_file():
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
    ids, captions, surface, queries, occupancy = [], [], [], [], []
    for obj in iter_objects(n_per_category, split=split):
        points, normals = union_surface(obj.mesh, n_surface, seed=obj.index)
        q, occ = occupancy_queries(obj.mesh, n_queries, seed=obj.index)
        ids.append(obj.id)
        captions.append(obj.caption)
        surface.append(np.concatenate([points, normals], axis=1))
        queries.append(q)
        occupancy.append(occ)
    arrays = {
        "ids": np.array(ids, dtype=str),
        "captions": np.array(captions, dtype=str),
        "surface": np.stack(surface).astype(np.float32),
        "queries": np.stack(queries),
        "occupancy": np.stack(occupancy),
    }
    if path is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes(path, buffer.getvalue())
        log.info("cached %d %s shapes in %s", len(ids), split, path)
    return arrays
