"""The public 3D API: text -> part mesh (FullPart), part editing, mesh <-> VAT tokens.

    import gfx.mesh
    mesh = gfx.mesh.generate("a wooden chair with four legs", seed=0)   # PartMesh with named parts
    mesh.export("chair.glb")
    mesh = gfx.mesh.edit(mesh, part="backrest", prompt="a chair with a tall slatted backrest")
    codes = gfx.mesh.encode(mesh)            # VATCodes; codes.save("codes.npz")
    shape = gfx.mesh.decode(codes)           # one-part PartMesh

Models default to the shipped checkpoints `models/fullpart-mini` and `models/vat-mini` (or under
$GFX_MODELS); `model=` takes another checkpoint directory or a loaded model. Loaded models are cached.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from gfx.mesh.structures import MeshError, PartMesh


def _model_dir(model, task: str) -> Path:
    from gfx.models import model_path

    path = Path(model) if model is not None else model_path(task)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a model directory; train one with `gfx train {task}`")
    return path


@functools.lru_cache(maxsize=2)
def _fullpart(directory: str):
    from gfx.mesh.fullpart import FullPart

    return FullPart.from_pretrained(directory)


@functools.lru_cache(maxsize=2)
def _vat(directory: str):
    from gfx.mesh.vat import VAT

    return VAT.from_pretrained(directory)


def generate(prompt: str, seed: int | None = None, model=None, *, n: int | None = None,
             temperature: float | None = None) -> PartMesh | list[PartMesh]:
    """Generate a part-based mesh for a text prompt.

    Args:
        prompt: a description, e.g. "a wooden chair with a slatted back".
        seed: makes the result reproducible; None draws one.
        model: a FullPart checkpoint directory or a loaded `FullPart`; default the shipped one.
        n: None for one mesh; an int for a list of n meshes (seeds seed, seed + 1, ...).
        temperature: layout sampling temperature (default the model's, `layout_lm.TEMPERATURE`; 0 is greedy:
            the most likely layout).

    Returns:
        A `PartMesh` in [-1, 1]^3 whose parts are named by label (`leg_0`, ...), each non-empty (a list
        of them with `n`).
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string, e.g. 'a wooden chair with four legs'")
    if n is not None and n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    pipe = _pipeline(model)
    sampling = {} if temperature is None else {"temperature": temperature}
    if n is None:
        return pipe(prompt, seed=seed, **sampling).mesh
    first = int(seed) if seed is not None else int(np.random.default_rng().integers(2**31))
    return [pipe(prompt, seed=first + k, **sampling).mesh for k in range(n)]


def edit(mesh, part: str, prompt: str, seed: int | None = None, model=None, *, relayout: bool = False) -> PartMesh:
    """Regenerate one part of a mesh for a prompt and keep the others (`FullPart.edit`).

    Args:
        mesh: a `PartMesh` or a mesh file with named parts (.glb, .obj, .ply).
        part: a part name ("backrest", "leg_2") or a label ("leg": every leg).
        prompt: what the part should become, e.g. "a chair with a tall slatted backrest".
        relayout: also take the part's box(es) from a layout sampled for the prompt.
    """
    from gfx.mesh.structures import load_part_mesh

    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string, e.g. 'a chair with a tall backrest'")
    return _pipeline(model).edit(load_part_mesh(mesh), part, prompt, seed, relayout=relayout)


def _pipeline(model):
    from gfx.mesh.fullpart import FullPart

    return model if isinstance(model, FullPart) else _fullpart(os.fspath(_model_dir(model, "fullpart")))


def encode(mesh, model=None, candidates: int | None = None):
    """VAT tokens of a mesh: a `PartMesh`, a trimesh Scene or Trimesh, or a mesh file (.glb, .obj, .ply,
    .stl); every part must be closed.

    candidates: encodings compared, the closest reconstruction kept (default the model's; 1 is fastest).

    Returns:
        `gfx.mesh.vat.VATCodes`; `.save(path)` writes an .npz.
    """
    from gfx.mesh.structures import load_part_mesh
    from gfx.mesh.vat import VAT

    mesh = load_part_mesh(mesh, require_manifold=True)
    vat = model if isinstance(model, VAT) else _vat(os.fspath(_model_dir(model, "vat")))
    return vat.encode(mesh, candidates=candidates)


def decode(codes, model=None) -> PartMesh:
    """A mesh from VAT tokens (`VATCodes` or the path of a saved .npz), in the encoded mesh's frame."""
    from gfx.mesh.vat import VAT, VATCodes

    if not isinstance(codes, VATCodes):
        path = Path(codes)
        if not path.is_file():
            raise MeshError(f"no such codes file: {path}")
        codes = VATCodes.load(path)
    vat = model if isinstance(model, VAT) else _vat(os.fspath(_model_dir(model, "vat")))
    if len(codes.indices) > len(vat.config.scales):
        raise MeshError(f"codes have {len(codes.indices)} scales; the model has {len(vat.config.scales)}")
    return vat.decode(codes)
