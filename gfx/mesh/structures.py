"""Part meshes: a list of named triangle meshes, validated, in list and packed forms.

A `PartMesh` holds `Part`s (name, semantic label, vertices, faces, colour). Like pytorch3d's `Meshes`
it offers the list form (`verts_list`, `faces_list`) and the packed form (`verts_packed`,
`faces_packed` with per-face part ids). Every constructor validates its input and raises `MeshError`
with a message that says what to fix. Plain numpy; trimesh is imported only to read files.

Files written by `gfx.mesh.export` carry the part names, labels and colours (GLB: node names, mesh
extras and materials; OBJ/PLY: `gfx-part` comment lines and, in PLY, a per-face `part` property), so
`load_part_mesh(export(mesh))` gives the same parts back. Foreign files load too: every GLB node,
OBJ object or PLY/STL file becomes one part, labelled by its name without a trailing `_<number>`.
trimesh objects convert both ways: `PartMesh.to_trimesh()` gives a `trimesh.Scene` with one named
geometry per part, and `PartMesh.from_trimesh` (or `load_part_mesh`) takes a Scene or a Trimesh.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_MAX_FACES = 2_000_000
"""Largest total face count accepted by default (`max_faces`)."""
DEFAULT_COLOR = (180, 180, 180, 255)
PART_COMMENT = "gfx-part"
"""Comment keyword of the OBJ/PLY part table: `gfx-part <index> <name> <label> <r> <g> <b> <a>`."""
READABLE_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl")


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


class PartMesh:
    """An object made of named parts; the mesh type every gfx 3D model reads and writes.

    Args:
        parts: at least one `Part`; names must be unique.
        max_faces: limit on the total face count.
    """

    def __init__(self, parts: Sequence[Part], *, max_faces: int = DEFAULT_MAX_FACES):
        parts = tuple(parts)
        if not parts:
            raise MeshError("a PartMesh needs at least one part")
        names = [p.name for p in parts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise MeshError(f"part names must be unique; repeated: {', '.join(duplicates)}")
        total = sum(len(p.faces) for p in parts)
        if total > max_faces:
            raise MeshError(
                f"mesh has {total} faces; the limit is {max_faces} (max_faces); decimate it first"
            )
        self._parts = parts

    @classmethod
    def from_arrays(
        cls, vertices: np.ndarray, faces: np.ndarray, name: str = "part_0", label: str = "part", **kwargs
    ) -> PartMesh:
        """A one-part mesh from (V, 3) vertices and (F, 3) faces."""
        return cls([Part(name, label, vertices, faces, **kwargs)])

    @classmethod
    def from_trimesh(cls, mesh, *, name: str = "part", max_faces: int = DEFAULT_MAX_FACES) -> PartMesh:
        """A `PartMesh` from a `trimesh.Scene` (one part per geometry node, named after the node, node
        transforms applied; labels and colours kept where `to_trimesh` wrote them) or a `trimesh.Trimesh`
        (one part called `name`)."""
        import trimesh

        if not isinstance(mesh, trimesh.Trimesh | trimesh.Scene):
            raise MeshError(f"expected a trimesh.Trimesh or trimesh.Scene, not {type(mesh).__name__}")
        parts = _scene_parts(mesh, {}, name, max_faces)
        if not parts:
            raise MeshError("the trimesh scene contains no triangle meshes")
        return cls(parts, max_faces=max_faces)

    def to_trimesh(self):
        """A `trimesh.Scene` with one geometry and node per part, named after it; the label and part index
        are in the geometry's `metadata["extras"]`, the colour in its PBR material."""
        from gfx.mesh.export import to_trimesh

        return to_trimesh(self)

    @property
    def parts(self) -> tuple[Part, ...]:
        return self._parts

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._parts]

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self._parts]

    @property
    def colors(self) -> np.ndarray:
        """(K, 4) uint8 RGBA per part."""
        return np.array([p.color for p in self._parts], dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[Part]:
        return iter(self._parts)

    def __getitem__(self, key: int | str) -> Part:
        if isinstance(key, str):
            for part in self._parts:
                if part.name == key:
                    return part
            raise KeyError(f"no part named {key!r}; parts: {', '.join(self.names)}")
        return self._parts[key]

    def __repr__(self) -> str:
        return f"PartMesh({len(self)} parts, {self.num_faces} faces: {', '.join(self.names)})"

    @property
    def num_faces(self) -> int:
        return sum(len(p.faces) for p in self._parts)

    def verts_list(self) -> list[np.ndarray]:
        """Per part (V_k, 3) float32."""
        return [p.vertices for p in self._parts]

    def faces_list(self) -> list[np.ndarray]:
        """Per part (F_k, 3) int64, indexing that part's own vertices."""
        return [p.faces for p in self._parts]

    def verts_packed(self) -> np.ndarray:
        """(sum V_k, 3) float32, parts concatenated in order."""
        return np.concatenate(self.verts_list())

    def faces_packed(self) -> np.ndarray:
        """(sum F_k, 3) int64 indices into `verts_packed()`."""
        offsets = np.cumsum([0] + [len(p.vertices) for p in self._parts[:-1]])
        return np.concatenate([p.faces + o for p, o in zip(self._parts, offsets, strict=True)])

    def face_parts_packed(self) -> np.ndarray:
        """(sum F_k,) int64: the part index of each packed face."""
        return np.repeat(np.arange(len(self)), [len(p.faces) for p in self._parts])

    def bounds(self) -> np.ndarray:
        """(2, 3) float32: min and max corner over all parts."""
        v = self.verts_packed()
        return np.stack([v.min(0), v.max(0)])

    def boxes(self) -> np.ndarray:
        """(K, 6) float32 per-part axis-aligned boxes, [center xyz, size xyz]."""
        return np.stack([p.box() for p in self._parts])

    def normalized(self) -> PartMesh:
        """A copy centered on its bounding box with the longest edge scaled to 2 (inside [-1, 1]^3)."""
        lo, hi = self.bounds().astype(np.float64)
        extent = float((hi - lo).max())
        if extent <= 0:
            raise MeshError("cannot normalize a mesh whose bounding box has zero size")
        scale = 2.0 / extent
        return PartMesh([p.transformed(scale, -(lo + hi) / 2 * scale) for p in self._parts])

    def export(self, path: str | os.PathLike, file_type: str | None = None) -> Path:
        """Write the mesh to `path` in the format named by its extension (see `gfx.mesh.export`)."""
        from gfx.mesh.export import export_mesh

        return export_mesh(self, path, file_type)


def _rgba(color, name: str) -> tuple[int, int, int, int]:
    values = [int(c) for c in np.asarray(color).ravel()]
    if len(values) == 3:
        values.append(255)
    if len(values) != 4 or not all(0 <= c <= 255 for c in values):
        raise MeshError(f"part {name!r}: colour must be 3 or 4 integers in 0..255, got {color!r}")
    return tuple(values)  # type: ignore[return-value]


def label_from_name(name: str) -> str:
    """The label of a foreign part: its name without a trailing `_<number>` ("leg_2" -> "leg")."""
    label = re.sub(r"[_.\-]?\d+$", "", name) or name
    return re.sub(r"\s+", "_", label) or "part"


def load_part_mesh(
    path, *, max_faces: int = DEFAULT_MAX_FACES, require_manifold: bool = False
) -> PartMesh:
    """Read a GLB, OBJ, PLY or STL file into a `PartMesh` (one part per GLB node / OBJ object / PLY part,
    one part for an STL file), or convert a trimesh object (`PartMesh.from_trimesh`).

    Args:
        path: the file (its extension picks the reader), a `trimesh.Trimesh` or `trimesh.Scene`, or a
            `PartMesh` (returned as is once checked).
        max_faces: limit on the total face count.
        require_manifold: also require every part to be closed and edge-manifold.

    Raises:
        MeshError: unknown extension, unreadable content, no triangles, or invalid geometry.
    """
    import trimesh

    if isinstance(path, PartMesh):
        return _checked(PartMesh(path.parts, max_faces=max_faces), require_manifold)
    if isinstance(path, trimesh.Trimesh | trimesh.Scene):
        return _checked(PartMesh.from_trimesh(path, max_faces=max_faces), require_manifold)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READABLE_SUFFIXES:
        raise MeshError(
            f"cannot read {path.name}: unsupported file type {suffix or '(none)'!r}; use one of "
            f"{', '.join(READABLE_SUFFIXES)}"
        )
    if not path.is_file():
        raise MeshError(f"no such mesh file: {path}")
    kwargs = {"split_objects": True, "group_material": False} if suffix == ".obj" else {}
    try:
        # STL stores each triangle with its own corners: merge them (process=True) so parts can be closed
        loaded = trimesh.load(str(path), file_type=suffix[1:], process=suffix == ".stl", **kwargs)
    except Exception as err:  # trimesh raises many types on bad input; report one
        raise MeshError(
            f"could not read {path.name} as {suffix[1:].upper()}: {type(err).__name__}: {err}"
        ) from err
    table = _part_table(path) if suffix in (".obj", ".ply") else {}
    try:
        if isinstance(loaded, trimesh.Trimesh) and suffix == ".ply":
            parts = _ply_parts(loaded, table, path.stem, max_faces)
        else:
            parts = _scene_parts(loaded, table, path.stem, max_faces)
    except MeshError as err:
        raise MeshError(f"{path.name}: {err}") from err
    if not parts:
        raise MeshError(f"{path.name} contains no triangle meshes")
    return _checked(PartMesh(parts, max_faces=max_faces), require_manifold)


def _checked(mesh: PartMesh, require_manifold: bool) -> PartMesh:
    if require_manifold:
        for part in mesh:
            require_watertight(part)
    return mesh


def _part_table(path: Path) -> dict[str, tuple[int, str, tuple[int, ...]]]:
    """The `gfx-part` comment lines of an OBJ or PLY header: name -> (index, label, rgba)."""
    table = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("latin-1").strip()
            if line.startswith(("end_header", "v ", "f ")):
                break
            words = line.lstrip("#").split()
            if words[:1] == ["comment"]:
                words = words[1:]
            if len(words) == 8 and words[0] == PART_COMMENT:
                table[words[2]] = (int(words[1]), words[3], tuple(int(c) for c in words[4:8]))
    return table


def _scene_parts(loaded, table: dict, stem: str, max_faces: int) -> list[Part]:
    import trimesh

    if isinstance(loaded, trimesh.Trimesh):
        items = [(stem, np.eye(4), loaded)]
    elif isinstance(loaded, trimesh.Scene):
        items = []
        for node in loaded.graph.nodes_geometry:
            transform, geometry_name = loaded.graph[node]
            geometry = loaded.geometry[geometry_name]
            if isinstance(geometry, trimesh.Trimesh):
                items.append((node, transform, geometry))
    else:
        return []
    parts = []
    for node, transform, geometry in items:
        extras = geometry.metadata.get("extras") or {}
        index, label, color = table.get(node, (extras.get("index"), extras.get("label"), None))
        vertices = trimesh.transform_points(np.asarray(geometry.vertices, dtype=np.float64), transform)
        color = color or _visual_color(geometry)
        name = re.sub(r"\s+", "_", str(node).strip()) or "part"
        part = Part(name, label or label_from_name(name), vertices, geometry.faces, color, max_faces)
        parts.append((index if index is not None else len(parts) + 10**9, part.name, part))
    return [p for _, _, p in sorted(parts, key=lambda t: (t[0], t[1]))]


def _ply_parts(loaded, table: dict, stem: str, max_faces: int) -> list[Part]:
    raw = loaded.metadata.get("_ply_raw", {}).get("face", {}).get("data")
    faces = np.asarray(loaded.faces)
    if raw is None or "part" not in (raw.dtype.names or ()) or not table:
        return _scene_parts(loaded, {}, stem, max_faces)
    face_part = np.asarray(raw["part"]).astype(np.int64)
    by_index = {index: (name, label, color) for name, (index, label, color) in table.items()}
    parts = []
    for index in sorted(by_index):
        name, label, color = by_index[index]
        part_faces = faces[face_part == index]
        used, inverse = np.unique(part_faces, return_inverse=True)
        vertices = np.asarray(loaded.vertices)[used] if len(used) else np.zeros((0, 3))
        parts.append(Part(name, label, vertices, inverse.reshape(-1, 3), color, max_faces))
    return parts


def _visual_color(geometry) -> tuple[int, int, int, int]:
    visual = geometry.visual
    material = getattr(visual, "material", None)
    factor = getattr(material, "baseColorFactor", None)
    if factor is not None:
        return tuple(int(c) for c in np.asarray(factor).ravel()[:4])
    if getattr(visual, "kind", None) in ("face", "vertex"):
        colors = visual.face_colors if visual.kind == "face" else visual.vertex_colors
        if len(colors):
            return tuple(int(c) for c in np.asarray(colors)[0][:4])
    return DEFAULT_COLOR
