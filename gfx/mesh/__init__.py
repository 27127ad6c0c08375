"""Part-based 3D meshes: structures, voxels, per-part grids, export, metrics and headless renders.

Geometry and format code here is plain numpy (DESIGN.md section 1); models (FullPart, VAT) build on it.
"""

from gfx.mesh.structures import MeshError, Part, PartMesh, load_part_mesh

__all__ = ["MeshError", "Part", "PartMesh", "load_part_mesh"]
