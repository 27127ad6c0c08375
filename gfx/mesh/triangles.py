"""One named triangle mesh (`Part`), its validation, and the packed form of a list of parts.

The base of `gfx.mesh.structures` (`PartMesh`, file reading) and `gfx.mesh.export` (file writing): both
build on `Part`, so neither needs the other's module. Plain numpy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_MAX_FACES = 2_000_000
"""Largest total face count accepted by default (`max_faces`)."""
DEFAULT_COLOR = (180, 180, 180, 255)


class MeshError(ValueError):
    """A mesh or mesh file that gfx cannot use; the message says what is wrong and what to do."""


@dataclass(frozen=True, eq=False)
class Part:
    """One named part.

    Attributes:
        name: unique within its mesh, no whitespace, e.g. "leg_2".
        label: semantic class, e.g. "leg".
        vertices: (V, 3) float32, read-only.
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside, read-only.
        color: RGBA, 0..255.
    """

    name: str
    label: str
    vertices: np.ndarray
    faces: np.ndarray
    color: tuple[int, int, int, int] = DEFAULT_COLOR
    max_faces: int = field(default=DEFAULT_MAX_FACES, repr=False)

    def __post_init__(self) -> None:
        vertices, faces = validate_arrays(self.vertices, self.faces, self.name, self.max_faces)
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "faces", faces)
        object.__setattr__(self, "color", _rgba(self.color, self.name))
        if not self.name or re.search(r"\s", self.name):
            raise MeshError(
                f"part name {self.name!r} is empty or contains whitespace; use names like 'left_leg'"
            )
        if not self.label or re.search(r"\s", self.label):
            raise MeshError(
                f"part {self.name!r} has label {self.label!r}; labels are non-empty words without spaces"
            )

    def box(self) -> np.ndarray:
        """Axis-aligned bounding box: (6,) float32, [center xyz, size xyz]."""
        lo, hi = self.vertices.min(0), self.vertices.max(0)
        return np.concatenate([(lo + hi) / 2, hi - lo]).astype(np.float32)

    def transformed(self, scale: float, offset: np.ndarray) -> Part:
        """A copy with vertices `v * scale + offset`."""
        return Part(
            self.name, self.label, self.vertices * scale + offset, self.faces, self.color, self.max_faces
        )


def validate_arrays(
    vertices: np.ndarray, faces: np.ndarray, name: str = "mesh", max_faces: int = DEFAULT_MAX_FACES
) -> tuple[np.ndarray, np.ndarray]:
    """Check one triangle mesh and return read-only (V, 3) float32 vertices and (F, 3) int64 faces.

    Raises:
        MeshError: wrong shapes, no faces, more than `max_faces` faces, non-finite vertices, or face
            indices out of range.
    """
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise MeshError(f"{name}: faces must be (F, 3) triangles, got shape {faces.shape}; triangulate first")
    if len(faces) > max_faces:
        raise MeshError(
            f"{name} has {len(faces)} faces; the limit is {max_faces} (max_faces); decimate it first"
        )
    if len(faces) == 0:
        raise MeshError(f"{name} is empty (no faces); every part needs at least one triangle")
    if faces.dtype.kind not in "iu":
        if not np.all(np.isfinite(faces)) or np.any(faces != np.round(faces)):
            raise MeshError(f"{name}: face indices must be integers")
    faces = faces.astype(np.int64)
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise MeshError(f"{name}: vertices must be (V, 3), got shape {vertices.shape}")
    bad = int(np.count_nonzero(~np.isfinite(vertices).all(axis=1)))
    if bad:
        raise MeshError(f"{name} has {bad} vertices with NaN or inf coordinates; remove or fix them")
    lo, hi = int(faces.min()), int(faces.max())
    if lo < 0 or hi >= len(vertices):
        bad_index = lo if lo < 0 else hi
        raise MeshError(f"{name}: face index {bad_index} is out of range for {len(vertices)} vertices")
    vertices = vertices.astype(np.float32)
    vertices.setflags(write=False)
    faces.setflags(write=False)
    return vertices, faces


def edge_counts(faces: np.ndarray) -> tuple[int, int]:
    """Count boundary edges (used by one face) and non-manifold edges (used by more than two).

    Args:
        faces: (F, 3) int vertex indices.

    Returns:
        (boundary, non_manifold); both 0 means the surface is closed and manifold along edges.
    """
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return int(np.count_nonzero(counts == 1)), int(np.count_nonzero(counts > 2))


def require_watertight(part: Part) -> None:
    """Raise MeshError unless every edge of `part` is shared by exactly two faces.

    Inside/outside tests (solid voxelization, occupancy) are only defined for such closed surfaces.
    """
    boundary, non_manifold = edge_counts(part.faces)
    if non_manifold:
        raise MeshError(
            f"part {part.name!r} is non-manifold: {non_manifold} edges are shared by more than two faces; "
            "split it into separate closed parts or repair it (e.g. in Blender: Mesh > Clean Up)"
        )
    if boundary:
        raise MeshError(
            f"part {part.name!r} is not closed: {boundary} edges belong to a single face; fill its holes, "
            "or use mode='surface' for voxels of an open surface"
        )


def _rgba(color, name: str) -> tuple[int, int, int, int]:
    values = [int(c) for c in np.asarray(color).ravel()]
    if len(values) == 3:
        values.append(255)
    if len(values) != 4 or not all(0 <= c <= 255 for c in values):
        raise MeshError(f"part {name!r}: colour must be 3 or 4 integers in 0..255, got {color!r}")
    return tuple(values)  # type: ignore[return-value]


def pack(parts: Sequence[Part]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The packed form of `parts`: vertices (sum V_k, 3) float32, faces (sum F_k, 3) int64 indexing
    them, and the part index of each face (sum F_k,) int64."""
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    vertices = np.concatenate([p.vertices for p in parts])
    faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets, strict=True)])
    face_parts = np.repeat(np.arange(len(parts)), [len(p.faces) for p in parts])
    return vertices, faces, face_parts
