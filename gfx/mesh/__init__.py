"""Part-based 3D meshes: structures, voxels, per-part grids, export, metrics and headless renders,
and the models built on them (FullPart generation, the VAT tokenizer).

    import gfx
    mesh = gfx.mesh.generate("a wooden chair with four legs", seed=0)   # PartMesh with named parts
    mesh.export("chair.glb")

Geometry and format code here is plain numpy (docs/ARCHITECTURE.md); `generate`, `encode` and `decode`
load torch models lazily on first use.
"""

from gfx.mesh.structures import MeshError, Part, PartMesh, load_part_mesh

__all__ = ["MeshError", "Part", "PartMesh", "load_part_mesh", "generate", "edit", "encode", "decode"]


def __getattr__(name: str):
    if name in ("generate", "edit", "encode", "decode"):
        from gfx.mesh import api

        return getattr(api, name)
    raise AttributeError(f"module 'gfx.mesh' has no attribute {name!r}")
