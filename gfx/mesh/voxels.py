"""Occupancy grids from triangle meshes and back, and surface point sampling.

Grid convention (used by every gfx 3D model): a grid of resolution R is a cube of edge `scale`
centred on `center`; cell (i, j, k) spans `lo + [i, i+1] * h` along x (j along y, k along z), with
`lo = center - scale / 2` and `h = scale / R`, and is sampled at its centre `lo + (i + 0.5) * h`.
The default cube is [-1, 1]^3 (`center = 0`, `scale = 2`), the frame of normalized objects.

Three voxelization modes:
- "solid": a cell is occupied when its centre is inside the closed surface (ray parity). Needs a
  watertight mesh (MeshError otherwise). Backends: "numpy" (vectorized z-ray casting, exact for
  closed meshes) and "open3d" (`RaycastingScene.compute_occupancy`).
- "surface": cells the surface passes through (open3d `VoxelGrid`; the numpy backend marks the cells
  of a regular lattice of points on each triangle, at most one cell apart, so it can miss a cell whose
  corner a triangle only clips). Works on open surfaces.
- "filled": solid or surface. Parts thinner than a cell (a slat, a lamp shade wall) vanish from a
  solid grid, since no cell centre lies inside them; "filled" keeps them at least one cell thick.

`field_grid` samples an occupancy function (a neural field) on a grid, coarse to fine.
`devoxelize` turns an occupancy grid back into a mesh with marching cubes (scikit-image); the grid is
padded with empty cells first, so the surface is always closed and lies half-way between an occupied
and an empty cell centre.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np

from gfx.mesh.render import cover_triangles, ragged_ranges
from gfx.mesh.structures import MeshError, Part, PartMesh, require_watertight, validate_arrays

log = logging.getLogger(__name__)

MODES = ("solid", "surface", "filled")
BACKENDS = ("numpy", "open3d")
_MAX_PAIRS = 4_000_000
"""Ray/triangle candidate pairs processed at once by the numpy solid voxelizer (bounds memory)."""
_RAY_JITTER = np.array([1.2345e-5, 2.3456e-5])
"""Offset of the rays from cell centres, in cells: keeps rays off shared triangle edges."""


def grid_frame(resolution: int, center=(0.0, 0.0, 0.0), scale: float = 2.0) -> tuple[np.ndarray, float]:
    """The grid's min corner `lo` (3,) float64 and cell size `h`."""
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    if not scale > 0:
        raise ValueError(f"grid scale must be positive, got {scale}")
    center = np.asarray(center, dtype=np.float64).reshape(3)
    return center - scale / 2.0, scale / resolution


def cell_centers(resolution: int, center=(0.0, 0.0, 0.0), scale: float = 2.0) -> np.ndarray:
    """Cell centre coordinates: (R, R, R, 3) float64, `[i, j, k] -> (x, y, z)`."""
    lo, h = grid_frame(resolution, center, scale)
    axis = (np.arange(resolution) + 0.5) * h
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1) + lo


SURE_BAND = (0.02, 0.98)
"""`field_grid`: a coarse cell whose 3x3x3 neighbourhood lies entirely below 0.02 (or above 0.98) is
taken as empty (full) at the fine level without evaluating the field there."""


def field_grid(
    field: Callable[[np.ndarray], np.ndarray], resolution: int, coarse: int | None = None
) -> np.ndarray:
    """An occupancy field sampled on the cell centres of a grid over [-1, 1]^3, coarse to fine.

    With `coarse`, the field is first sampled on a `coarse`^3 grid; only the fine cells inside coarse cells
    near the iso-surface (a neighbour outside `SURE_BAND`) are then evaluated, the rest copy their coarse
    cell (the multi-resolution extraction of Occupancy Networks, one level). A part thin enough to stay
    below 0.02 on every coarse cell is lost, as it would be on the coarse grid.

    Args:
        field: points (Q, 3) float32 -> occupancy probabilities (Q,).
        resolution: R of the returned grid; coarse: a divisor of R (None: evaluate every cell).

    Returns:
        (R, R, R) float32, indexed [x, y, z].
    """
    if coarse is None or coarse >= resolution:
        return np.asarray(field(cell_centers(resolution).reshape(-1, 3).astype(np.float32)), np.float32).reshape(
            (resolution,) * 3
        )
    if resolution % coarse:
        raise ValueError(f"the coarse grid {coarse} must divide the resolution {resolution}")
    from scipy import ndimage

    k = resolution // coarse
    low = field_grid(field, coarse)
    near = (ndimage.maximum_filter(low, 3) > SURE_BAND[0]) & (ndimage.minimum_filter(low, 3) < SURE_BAND[1])
    fine = low.repeat(k, 0).repeat(k, 1).repeat(k, 2)
    refine = near.repeat(k, 0).repeat(k, 1).repeat(k, 2)
    lo, h = grid_frame(resolution)
    fine[refine] = field((lo + (np.argwhere(refine) + 0.5) * h).astype(np.float32))  # centres of refined cells
    return fine


def voxelize(
    vertices: np.ndarray,
    faces: np.ndarray,
    resolution: int,
    center=(0.0, 0.0, 0.0),
    scale: float = 2.0,
    *,
    mode: str = "solid",
    backend: str = "numpy",
) -> np.ndarray:
    """Occupancy of one triangle mesh on a cubic grid.

    Args:
        vertices: (V, 3) float, same units as `center` and `scale`.
        faces: (F, 3) int.
        resolution: R, cells per axis.
        center: (3,) centre of the grid cube.
        scale: edge length of the grid cube.
        mode: "solid" (inside the closed surface), "surface" (cells the surface crosses) or
            "filled" (either).
        backend: "numpy" (no extra dependency) or "open3d".

    Returns:
        (R, R, R) bool, indexed [x, y, z].

    Raises:
        MeshError: invalid arrays, or a mesh that is not closed in "solid" and "filled" modes.
    """
    if mode not in MODES:
        raise ValueError(f"unknown voxel mode {mode!r}; valid: {', '.join(MODES)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown voxel backend {backend!r}; valid: {', '.join(BACKENDS)}")
    vertices, faces = validate_arrays(vertices, faces, "mesh")
    if mode != "surface":
        require_watertight(Part("mesh", "mesh", vertices, faces))
    lo, h = grid_frame(resolution, center, scale)
    grid_vertices = (vertices.astype(np.float64) - lo) / h  # cell units: centre of cell i at i + 0.5
    solid, surface = (
        (_open3d_solid, _open3d_surface) if backend == "open3d" else (_numpy_solid, _numpy_surface)
    )
    if mode == "solid":
        return solid(grid_vertices, faces, resolution)
    if mode == "surface":
        return surface(grid_vertices, faces, resolution)
    return solid(grid_vertices, faces, resolution) | surface(grid_vertices, faces, resolution)


def voxelize_parts(
    mesh: PartMesh,
    resolution: int,
    center=(0.0, 0.0, 0.0),
    scale: float = 2.0,
    *,
    mode: str = "filled",
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy and part labels of a whole object on one shared grid.

    Each part is voxelized on its own and the results are combined, so overlapping closed parts give
    their union (a single parity test over all parts would cancel out in overlaps). A cell claimed by
    several parts goes to the smallest of them, so small parts are not swallowed by large neighbours.

    Args:
        mesh: the object.
        resolution, center, scale, mode, **kwargs: as for `voxelize`; "filled" by default, like
            `gfx.mesh.parts.part_grids`, so shared and per-part grids compare.

    Returns:
        occupancy: (R, R, R) bool.
        part_ids: (R, R, R) int64, the part index of each cell, -1 where empty.
    """
    grids = [voxelize(p.vertices, p.faces, resolution, center, scale, mode=mode, **kwargs) for p in mesh]
    counts = np.array([g.sum() for g in grids])
    part_ids = np.full((resolution,) * 3, -1, dtype=np.int64)
    for index in np.argsort(-counts, kind="stable"):  # largest first, so the smallest writes last
        part_ids[grids[index]] = index
    return part_ids >= 0, part_ids


def _numpy_solid(grid_vertices: np.ndarray, faces: np.ndarray, resolution: int) -> np.ndarray:
    """Parity of z-ray crossings below each cell centre; `grid_vertices` (V, 3) in cell units."""
    r = resolution
    triangles = grid_vertices[faces]
    hits = np.zeros(r * r * (r + 1), dtype=np.int64)
    for tri, ii, jj, bary in cover_triangles(triangles[:, :, :2] - _RAY_JITTER, r, r, _MAX_PAIRS):
        z = np.einsum("nk,nk->n", bary, triangles[tri, :, 2])
        kz = np.clip(np.ceil(z - 0.5), 0, r).astype(np.int64)  # first cell centre above the crossing
        hits += np.bincount((ii * r + jj) * (r + 1) + kz, minlength=len(hits))
    below = np.cumsum(hits.reshape(r, r, r + 1)[:, :, :r], axis=2)
    return (below % 2).astype(bool)


def _numpy_surface(grid_vertices: np.ndarray, faces: np.ndarray, resolution: int) -> np.ndarray:
    """Cells hit by a regular barycentric lattice on each triangle, spaced at most one cell apart."""
    triangles = grid_vertices[faces]
    edges = np.linalg.norm(triangles - np.roll(triangles, 1, axis=1), axis=2).max(axis=1)
    steps = np.maximum(np.ceil(edges), 1).astype(np.int64)  # lattice divisions per triangle
    counts = (steps + 1) * (steps + 2) // 2
    grid = np.zeros((resolution,) * 3, dtype=bool)
    lattice = _lattice(int(steps.max()))
    for tri, local in ragged_ranges(counts, _MAX_PAIRS):
        u, v = (lattice[local] / steps[tri, None]).T
        t = triangles[tri]
        points = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
        cells = np.floor(points).astype(np.int64)
        cells = cells[np.all((cells >= 0) & (cells < resolution), axis=1)]
        grid[cells[:, 0], cells[:, 1], cells[:, 2]] = True
    return grid


@functools.lru_cache(maxsize=8)
def _lattice(m: int) -> np.ndarray:
    """(i, j) with i + j <= m, ordered by i + j, so the first (n+1)(n+2)/2 rows are the lattice of n."""
    rows = np.array([(i, d - i) for d in range(m + 1) for i in range(d + 1)], dtype=np.float64)
    rows.setflags(write=False)
    return rows


def _open3d_solid(grid_vertices: np.ndarray, faces: np.ndarray, resolution: int) -> np.ndarray:
    centers = cell_centers(resolution, center=(resolution / 2,) * 3, scale=resolution).reshape(-1, 3)
    return points_inside(centers, grid_vertices, faces).reshape((resolution,) * 3)


def _open3d_surface(grid_vertices: np.ndarray, faces: np.ndarray, resolution: int) -> np.ndarray:
    from gfx.runtime import optional_import

    o3d = optional_import("open3d")
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(grid_vertices), o3d.utility.Vector3iVector(faces.astype(np.int32))
    )
    voxels = o3d.geometry.VoxelGrid.create_from_triangle_mesh_within_bounds(
        mesh, voxel_size=1.0, min_bound=np.zeros(3), max_bound=np.full(3, float(resolution))
    )
    grid = np.zeros((resolution,) * 3, dtype=bool)
    index = np.array([v.grid_index for v in voxels.get_voxels()], dtype=np.int64).reshape(-1, 3)
    index = index[np.all((index >= 0) & (index < resolution), axis=1)]
    grid[index[:, 0], index[:, 1], index[:, 2]] = True
    return grid


def points_inside(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Inside/outside labels of arbitrary query points for a closed mesh (open3d ray casting).

    Args:
        points: (N, 3) query points; vertices: (V, 3); faces: (F, 3), a closed surface.

    Returns:
        (N,) bool, True inside.
    """
    from gfx.runtime import optional_import

    vertices, faces = validate_arrays(vertices, faces, "mesh")
    require_watertight(Part("mesh", "mesh", vertices, faces))
    o3d = optional_import("open3d")
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(vertices), o3d.core.Tensor(faces.astype(np.uint32)))
    query = o3d.core.Tensor(np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3))
    return scene.compute_occupancy(query).numpy() > 0.5


def devoxelize(
    occupancy: np.ndarray, center=(0.0, 0.0, 0.0), scale: float = 2.0, level: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes over an occupancy (or probability) grid, in the grid's world coordinates.

    Args:
        occupancy: (R, R, R) bool or float in [0, 1], indexed [x, y, z].
        center, scale: the grid cube (see the module docstring).
        level: iso-value between empty (0) and full (1).

    Returns:
        vertices: (V, 3) float32; faces: (F, 3) int64, oriented outwards.

    Raises:
        MeshError: the grid has no cell above `level`.
    """
    from skimage.measure import marching_cubes

    occupancy = np.asarray(occupancy)
    if occupancy.ndim != 3 or len(set(occupancy.shape)) != 1:
        raise ValueError(f"occupancy must be a cubic (R, R, R) grid, got shape {occupancy.shape}")
    values = np.pad(occupancy.astype(np.float32), 1)
    if not (values > level).any():
        raise MeshError("occupancy grid is empty; nothing to turn into a mesh")
    lo, h = grid_frame(occupancy.shape[0], center, scale)
    vertices, faces, _, _ = marching_cubes(
        values, level=level, spacing=(h, h, h), gradient_direction="ascent"
    )
    vertices = vertices + lo - h / 2  # padded index p is cell p - 1, whose centre is lo + (p - 0.5) h
    return vertices.astype(np.float32), faces.astype(np.int64)


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area-weighted uniform samples on a triangle mesh (deterministic for a seed).

    Returns:
        points: (n, 3) float32; normals: (n, 3) float32, unit face normals; face_index: (n,) int64.
    """
    triangles = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]
    cross = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    if not area.sum() > 0:
        raise MeshError("cannot sample points on a mesh with zero surface area")
    points, face_index = _sample_triangles(triangles, area, n, np.random.default_rng(seed))
    normals = cross[face_index] / np.maximum(2 * area[face_index, None], 1e-30)
    return points.astype(np.float32), normals.astype(np.float32), face_index


def sample_part_surface(mesh: PartMesh, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area-weighted samples over all parts of `mesh`.

    Returns:
        points: (n, 3) float32; normals: (n, 3) float32; part_index: (n,) int64.
    """
    points, normals, face_index = sample_surface(mesh.verts_packed(), mesh.faces_packed(), n, seed)
    return points, normals, mesh.face_parts_packed()[face_index]


def _sample_triangles(triangles: np.ndarray, area: np.ndarray, n: int, rng: np.random.Generator):
    face_index = rng.choice(len(triangles), size=n, p=area / area.sum())
    u, v = rng.random((2, n))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    tri = triangles[face_index]
    points = tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])
    return points, face_index


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
