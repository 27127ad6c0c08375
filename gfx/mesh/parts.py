"""Per-part boxes and grids: each part in its own full-resolution grid, and back (FullPart).

Boxes are axis-aligned, `(K, 6)` float32 `[center xyz, size xyz]` in the object frame (normalized
objects live in [-1, 1]^3). A part's *frame* is the cube around its box with edge equal to the box's
longest edge (FullPart keeps the aspect ratio this way, docs/papers.md, FullPart):

    x_local = (x_global - center) / scale,   x_global = x_local * scale + center,   x_local in [-0.5, 0.5]^3

A part's grid of resolution R covers that cube, so a part whose longest edge is a fraction f of the
object spans R cells in its own grid but only f * R in a shared grid of the object: the small-part
argument of FullPart. Grid conventions are those of `gfx.mesh.voxels`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from gfx.mesh.structures import DEFAULT_COLOR, MeshError, Part, PartMesh
from gfx.mesh.voxels import cell_centers, devoxelize, voxelize

log = logging.getLogger(__name__)

MIN_SCALE = 1e-4
"""Smallest part frame edge, so that a flat or point-like box still has an invertible frame."""


def box_frames(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cube frame of each box.

    Args:
        boxes: (K, 6) or (6,) [center xyz, size xyz].

    Returns:
        centers: (K, 3) float64; scales: (K,) float64, each box's longest edge (at least MIN_SCALE).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 6)
    return boxes[:, :3], np.maximum(boxes[:, 3:].max(axis=1), MIN_SCALE)


MIN_EDGE = 1e-3
"""Smallest box edge of a box frame (object units), so that flat boxes stay invertible."""


def to_box_frame(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Object-frame points (..., 3) -> the box frame, where the box is [-1, 1]^3."""
    box = np.asarray(box, np.float64)
    return (np.asarray(points, np.float64) - box[:3]) / (np.maximum(box[3:], MIN_EDGE) / 2)


def from_box_frame(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Inverse of `to_box_frame`."""
    box = np.asarray(box, np.float64)
    return np.asarray(points, np.float64) * (np.maximum(box[3:], MIN_EDGE) / 2) + box[:3]


def boxes_from_min_max(bounds: np.ndarray) -> np.ndarray:
    """(K, 2, 3) min/max corners (FullPart's layout) -> (K, 6) [center, size] float32."""
    bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2, 3)
    return np.concatenate([bounds.mean(axis=1), bounds[:, 1] - bounds[:, 0]], axis=1).astype(np.float32)


def boxes_to_min_max(boxes: np.ndarray) -> np.ndarray:
    """(K, 6) [center, size] -> (K, 2, 3) min/max corners, float32."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 6)
    half = boxes[:, 3:] / 2
    return np.stack([boxes[:, :3] - half, boxes[:, :3] + half], axis=1).astype(np.float32)


def to_local(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Object-frame points (..., 3) -> the box's local frame, where the box fits in [-0.5, 0.5]^3."""
    center, scale = box_frames(box)
    return (np.asarray(points, dtype=np.float64) - center[0]) / scale[0]


def to_global(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Inverse of `to_local`: local (..., 3) -> object-frame points."""
    center, scale = box_frames(box)
    return np.asarray(points, dtype=np.float64) * scale[0] + center[0]


def part_grids(
    mesh: PartMesh, resolution: int, *, mode: str = "filled", backend: str = "numpy"
) -> np.ndarray:
    """Voxelize every part in its own grid, the cube frame of its bounding box.

    Args:
        mesh: K parts.
        resolution: R cells per axis of each part grid.
        mode, backend: as for `gfx.mesh.voxels.voxelize`; "filled" keeps parts thinner than a cell
            (boards, slats), which a "solid" grid loses.

    Returns:
        (K, R, R, R) bool; pair it with `mesh.boxes()` to place the grids.
    """
    centers, scales = box_frames(mesh.boxes())
    return np.stack(
        [
            voxelize(p.vertices, p.faces, resolution, c, s, mode=mode, backend=backend)
            for p, c, s in zip(mesh, centers, scales, strict=True)
        ]
    )


def center_point_encoding(boxes: np.ndarray, resolution: int) -> np.ndarray:
    """FullPart's center-point encoding: each part's cell centres mapped through its box to the object frame.

    Tokens of different parts that sit at the same place in the object get the same coordinates, so a
    positional embedding of these coordinates lets parts attend to each other coherently.

    Args:
        boxes: (K, 6) [center, size] part boxes in the object frame.
        resolution: R, cells per axis of each part grid (or of its token grid).

    Returns:
        (K, R^3, 3) float32 object-frame coordinates, cells in C order of (i, j, k) = (x, y, z).
    """
    local = cell_centers(resolution, scale=1.0).reshape(1, -1, 3)  # (1, R^3, 3) in [-0.5, 0.5]
    centers, scales = box_frames(boxes)
    return (local * scales[:, None, None] + centers[:, None, :]).astype(np.float32)


def corner_point_encoding(boxes: np.ndarray, resolution: int) -> np.ndarray:
    """FullPart's corner variant: the 8 corners of each cell in the object frame (encodes cell size too).

    Returns:
        (K, R^3, 8, 3) float32; corner order is (dx, dy, dz) in {-1/2, +1/2}^3, x slowest.
    """
    offsets = np.stack(np.meshgrid(*[[-0.5, 0.5]] * 3, indexing="ij"), axis=-1).reshape(1, 1, 8, 3)
    centers = center_point_encoding(boxes, resolution)[:, :, None, :]  # (K, R^3, 1, 3)
    _, scales = box_frames(boxes)
    return (centers + offsets * (scales / resolution)[:, None, None, None]).astype(np.float32)


def quantize_positions(
    points: np.ndarray, bins: int = 256, low: float = -2.0, high: float = 2.0
) -> np.ndarray:
    """Integer bins of coordinates, as FullPart quantizes positions before its sinusoidal embedding.

    Args:
        points: (..., 3) float coordinates.
        bins: number of bins over [low, high]; values outside are clipped.

    Returns:
        (..., 3) int64 in [0, bins - 1].
    """
    scaled = (np.asarray(points, dtype=np.float64) - low) / (high - low) * bins
    return np.clip(np.floor(scaled), 0, bins - 1).astype(np.int64)


def assemble(
    grids: np.ndarray,
    boxes: np.ndarray,
    names: Sequence[str],
    labels: Sequence[str],
    colors: Sequence[Sequence[int]] | None = None,
    level: float = 0.5,
    frame: str = "cube",
) -> PartMesh:
    """Mesh each part grid with marching cubes and place it through its box into one `PartMesh`.

    Parts whose grid is empty are left out (with a warning), so every returned part is non-empty.

    Args:
        grids: (K, R, R, R) bool or probabilities, one grid per part in its own frame.
        boxes: (K, 6) [center, size] part boxes in the object frame.
        names, labels: K unique part names and their labels.
        colors: K RGBA colours (default grey).
        level: marching-cubes iso-value.
        frame: where each grid lies: "cube" (the cube frame of its box, `box_frames`), "box" (the box
            itself stretched to [-1, 1]^3, `gfx.mesh.part_field.from_box_frame`) or "object" (the object
            cube [-1, 1]^3, every part on one shared grid).

    Raises:
        MeshError: every grid is empty.
    """
    if frame not in ("cube", "box", "object"):
        raise ValueError(f"frame must be 'cube', 'box' or 'object', got {frame!r}")
    centers, scales = box_frames(boxes)
    colors = colors if colors is not None else [DEFAULT_COLOR] * len(grids)
    parts = []
    for grid, box, center, scale, name, label, color in zip(
        grids, np.asarray(boxes).reshape(-1, 6), centers, scales, names, labels, colors, strict=True
    ):
        try:
            if frame == "cube":
                vertices, faces = devoxelize(grid, center, scale, level)
            else:
                vertices, faces = devoxelize(grid, (0.0, 0.0, 0.0), 2.0, level)
                if frame == "box":
                    vertices = from_box_frame(vertices, box).astype(np.float32)
        except MeshError:
            log.warning("part %s has an empty grid; it is left out of the mesh", name)
            continue
        parts.append(Part(name, label, vertices, faces, tuple(color)))
    if not parts:
        raise MeshError("every part grid is empty; nothing to assemble")
    return PartMesh(parts)


def components(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """6-connected components of a bool grid: (R, R, R) int labels (0 = empty) and their count."""
    from scipy import ndimage

    return ndimage.label(grid)


def largest_component(grid: np.ndarray) -> np.ndarray:
    """The largest 6-connected component of a bool grid, its enclosed cavities filled: (R, R, R) bool."""
    from scipy import ndimage

    ids, n = components(grid)
    if n == 0:
        return grid.astype(bool)
    sizes = np.bincount(ids.ravel())[1:]
    return ndimage.binary_fill_holes(ids == 1 + int(sizes.argmax()))


def fragmented(grid: np.ndarray, min_fraction: float = 0.01) -> bool:
    """True when a part grid has more than one 6-connected component above `min_fraction` of its volume."""
    ids, n = components(grid)
    if n < 2:
        return False
    sizes = np.bincount(ids.ravel())[1:]
    return int((sizes > min_fraction * sizes.sum()).sum()) > 1


def assemble_shared(
    part_ids: np.ndarray,
    names: Sequence[str],
    labels: Sequence[str],
    colors: Sequence[Sequence[int]] | None = None,
    center=(0.0, 0.0, 0.0),
    scale: float = 2.0,
) -> PartMesh:
    """The shared-grid counterpart of `assemble`: one object grid whose cells carry part indices.

    Args:
        part_ids: (R, R, R) int, part index per cell, -1 where empty (`voxels.voxelize_parts`).
        names, labels, colors: per part, as for `assemble`.
        center, scale: the object grid cube.
    """
    grids = np.stack([part_ids == k for k in range(len(names))])
    centers = np.broadcast_to(np.asarray(center, dtype=np.float64), (len(names), 3))
    boxes = np.concatenate([centers, np.full((len(names), 3), float(scale))], axis=1)
    return assemble(grids, boxes, names, labels, colors)
