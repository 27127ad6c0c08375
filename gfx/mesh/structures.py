"""Part meshes: a list of named triangle meshes, validated, in list and packed forms.

A `PartMesh` holds `Part`s (name, semantic label, vertices, faces, colour). Like pytorch3d's `Meshes`
it offers the list form (`verts_list`, `faces_list`) and the packed form (`verts_packed`,
`faces_packed` with per-face part ids). Every constructor validates its input and raises `MeshError`
with a message that says what to fix. `Part`, `MeshError` and validation live in
`gfx.mesh.triangles` (re-exported here). Plain numpy; trimesh is imported only to read files.

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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from gfx.mesh.export import PART_COMMENT, export_mesh
from gfx.mesh.triangles import (
    DEFAULT_COLOR,
    DEFAULT_MAX_FACES,
    MeshError,
    Part,
    edge_counts,
    pack,
    require_watertight,
    validate_arrays,
)

__all__ = [
    "DEFAULT_COLOR",
    "DEFAULT_MAX_FACES",
    "MeshError",
    "Part",
    "PartMesh",
    "edge_counts",
    "label_from_name",
    "load_part_mesh",
    "require_watertight",
    "validate_arrays",
]

READABLE_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl")


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
    def from_records(cls, records: Iterable, **kwargs) -> PartMesh:
        """A mesh from plain part records with `name`, `label`, `vertices` (V, 3), `faces` (F, 3) and
        `color` (RGBA) attributes, e.g. the parts of a `gfx.data.parts3d.PartObject`."""
        return cls([Part(r.name, r.label, r.vertices, r.faces, r.color) for r in records], **kwargs)

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
        return pack(self._parts)[1]

    def face_parts_packed(self) -> np.ndarray:
        """(sum F_k,) int64: the part index of each packed face."""
        return pack(self._parts)[2]

    def bounds(self) -> np.ndarray:
        """(2, 3) float32: min and max corner over all parts."""
        v = self.verts_packed()
        return np.stack([v.min(0), v.max(0)])

    def boxes(self) -> np.ndarray:
        """(K, 6) float32 per-part axis-aligned boxes, [center xyz, size xyz]."""
        return np.stack([p.box() for p in self._parts])

    def normalization(self) -> tuple[float, np.ndarray]:
        """(scale, (3,) offset) with `v * scale + offset` centring the bounding box and scaling its longest edge to 2."""
        lo, hi = self.bounds().astype(np.float64)
        extent = float((hi - lo).max())
        if extent <= 0:
            raise MeshError("cannot normalize a mesh whose bounding box has zero size")
        scale = 2.0 / extent
        return scale, -(lo + hi) / 2 * scale

    def normalized(self) -> PartMesh:
        """A copy centered on its bounding box with the longest edge scaled to 2 (inside [-1, 1]^3)."""
        scale, offset = self.normalization()
        return PartMesh([p.transformed(scale, offset) for p in self._parts])

    def export(self, path: str | os.PathLike, file_type: str | None = None) -> Path:
        """Write the mesh to `path` in the format named by its extension (see `gfx.mesh.export`)."""
        return export_mesh(self, path, file_type)


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
