"""Write a `PartMesh` as GLB, OBJ or PLY, keeping part names, labels and colours.

- GLB: one node per part, named after the part; the mesh carries `extras = {"label", "index"}` and a
  PBR material whose base colour is the part colour (viewers and gradio's Model3D show it).
- OBJ: one `o <name>` object per part, vertex colours as `v x y z r g b`, and a `# gfx-part` table.
- PLY (binary): one mesh with vertex colours, a per-face `part` index and a `comment gfx-part` table.

`EXPORTERS` maps a file type to a function `parts -> bytes` (a `PartMesh` or any sequence of `Part`s);
`export_mesh` picks one by extension and fails with the list of valid types.
`gfx.mesh.structures.load_part_mesh` reads all three back. Plain numpy (trimesh builds the GLB).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gfx.files import write_bytes
from gfx.mesh.triangles import MeshError, Part, pack

PART_COMMENT = "gfx-part"
"""Comment keyword of the OBJ/PLY part table: `gfx-part <index> <name> <label> <r> <g> <b> <a>`."""


def _table_lines(mesh: Sequence[Part]) -> list[str]:
    return [
        f"{PART_COMMENT} {i} {p.name} {p.label} {' '.join(str(c) for c in p.color)}"
        for i, p in enumerate(mesh)
    ]


def to_trimesh(mesh: Sequence[Part]):
    """A `trimesh.Scene` with one named node and geometry per part, coloured by a per-part PBR material;
    each geometry's `metadata["extras"]` holds the part's label and index."""
    import trimesh

    scene = trimesh.Scene()
    for index, part in enumerate(mesh):
        material = trimesh.visual.material.PBRMaterial(
            name=part.name,
            baseColorFactor=list(part.color),
            doubleSided=True,
            metallicFactor=0.0,
            roughnessFactor=0.8,
        )
        geometry = trimesh.Trimesh(
            part.vertices,
            part.faces,
            visual=trimesh.visual.TextureVisuals(material=material),
            process=False,
            metadata={"extras": {"label": part.label, "index": index}},
        )
        scene.add_geometry(geometry, node_name=part.name, geom_name=part.name)
    return scene


def to_glb(mesh: Sequence[Part]) -> bytes:
    """GLB bytes of `to_trimesh(mesh)`: one named node per part, label and colour kept."""
    return to_trimesh(mesh).export(file_type="glb")


def to_obj(mesh: Sequence[Part]) -> bytes:
    """Wavefront OBJ bytes: one `o` object per part, vertex colours in 0..1."""
    out = io.StringIO()
    out.write("# gfx part mesh\n")
    for line in _table_lines(mesh):
        out.write(f"# {line}\n")
    offset = 1
    for part in mesh:
        out.write(f"o {part.name}\n")
        rgb = np.broadcast_to(np.asarray(part.color[:3], dtype=np.float64) / 255.0, (len(part.vertices), 3))
        np.savetxt(
            out, np.hstack([part.vertices.astype(np.float64), rgb]), fmt="v %.9g %.9g %.9g %.4f %.4f %.4f"
        )
        np.savetxt(out, part.faces + offset, fmt="f %d %d %d")
        offset += len(part.vertices)
    return out.getvalue().encode("utf-8")


def to_ply(mesh: Sequence[Part]) -> bytes:
    """Binary little-endian PLY bytes: vertex colours and a per-face `part` index."""
    vertices, faces, face_parts = pack(mesh)
    colors = np.array([p.color for p in mesh], dtype=np.uint8)
    vertex_colors = np.repeat(colors, [len(p.vertices) for p in mesh], axis=0)
    header = [
        "ply",
        "format binary_little_endian 1.0",
        *(f"comment {line}" for line in _table_lines(mesh)),
        f"element vertex {len(vertices)}",
        *(f"property float {a}" for a in "xyz"),
        *(f"property uchar {c}" for c in ("red", "green", "blue", "alpha")),
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "property int part",
        "end_header",
    ]
    vertex_data = np.zeros(len(vertices), dtype=[("xyz", "<f4", (3,)), ("rgba", "u1", (4,))])
    vertex_data["xyz"], vertex_data["rgba"] = vertices, vertex_colors
    face_data = np.zeros(len(faces), dtype=[("n", "u1"), ("index", "<i4", (3,)), ("part", "<i4")])
    face_data["n"], face_data["index"], face_data["part"] = 3, faces, face_parts
    return ("\n".join(header) + "\n").encode("ascii") + vertex_data.tobytes() + face_data.tobytes()


EXPORTERS: dict[str, Callable[[Sequence[Part]], bytes]] = {"glb": to_glb, "obj": to_obj, "ply": to_ply}
"""File type -> function returning the file's bytes."""


def get_exporter(file_type: str) -> Callable[[Sequence[Part]], bytes]:
    """The exporter for `file_type` ("glb", ".obj", ...); MeshError listing valid types otherwise."""
    key = file_type.lower().lstrip(".")
    if key not in EXPORTERS:
        raise MeshError(f"cannot export {file_type!r}; valid file types: {', '.join(EXPORTERS)}")
    return EXPORTERS[key]


def export_mesh(mesh: Sequence[Part], path: str | os.PathLike, file_type: str | None = None) -> Path:
    """Write `mesh` to `path` atomically, in `file_type` or the format named by the extension."""
    path = Path(path)
    if not (file_type or path.suffix):
        raise MeshError(f"{path.name} has no extension; name it .{', .'.join(EXPORTERS)} or pass file_type")
    exporter = get_exporter(file_type or path.suffix)
    write_bytes(path, exporter(mesh))
    return path
