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
import torch
from torch import Tensor

from gfx.files import write_bytes
from gfx.mesh.structures import PartMesh
from gfx.mesh.vat import VAT
from gfx.mesh.voxels import union_occupancy, union_surface
from gfx.recipes.batching import Batches
from gfx.recipes.fullpart_data import CACHE_DIR

log = logging.getLogger(__name__)

NEAR_SURFACE_SIGMAS = (0.01, 0.04)
"""Std devs of the Gaussian offsets of near-surface queries (half of the near queries each)."""


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
    from gfx.recipes.parts3d import part_mesh

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
        mesh = part_mesh(obj)
        points, normals = union_surface(mesh, n_surface, seed=obj.index)
        q, occ = occupancy_queries(mesh, n_queries, seed=obj.index)
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


@torch.no_grad()
def code_dataset(vat: VAT, arrays: dict[str, np.ndarray], seed: int = 0) -> dict[str, Tensor]:
    """Teacher-forcing tensors of a shape split: "codes" (N, L), "inputs" (N, L - 1, D), "text" (N, 384)."""
    vat.eval()
    from gfx.backbones.text_encoder import text_encoder

    rng = np.random.default_rng(seed)
    n_points = vat.config.n_points
    codes, inputs = [], []
    for start in range(0, len(arrays["surface"]), 32):
        chunk = arrays["surface"][start : start + 32]
        pick = rng.permutation(chunk.shape[1])[:n_points]
        mu, _ = vat.encode_gaussian(torch.from_numpy(chunk[:, pick]))
        idx = vat.quantizer.encode(mu)
        codes.append(torch.cat(idx, 1))
        inputs.append(vat.quantizer.teacher_inputs(idx))
    return {
        "codes": torch.cat(codes),
        "inputs": torch.cat(inputs).float(),
        "text": torch.from_numpy(text_encoder().embed_many(list(arrays["captions"]))),
    }


def shape_batches(arrays: dict[str, np.ndarray], batch_size: int, n_points: int, n_queries: int, seed: int) -> Batches:
    """`Batches` of shapes, each with a random subset of its surface points and of its labelled queries:
    "surface" (B, n_points, 6), "queries" (B, n_queries, 3), "occupancy" (B, n_queries) float32."""

    def collate(idx: np.ndarray, rng: np.random.Generator) -> dict[str, Tensor]:
        pts = rng.random((len(idx), arrays["surface"].shape[1])).argsort(1)[:, :n_points]
        qry = rng.random((len(idx), arrays["queries"].shape[1])).argsort(1)[:, :n_queries]
        rows = idx[:, None]
        return {"surface": torch.from_numpy(arrays["surface"][rows, pts]),
                "queries": torch.from_numpy(arrays["queries"][rows, qry]),
                "occupancy": torch.from_numpy(arrays["occupancy"][rows, qry].astype(np.float32))}

    return Batches(len(arrays["surface"]), batch_size, collate, seed=seed)
