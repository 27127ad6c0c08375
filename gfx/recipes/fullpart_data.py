"""FullPart training arrays: captions, their MiniLM embeddings, part boxes and labels, per-part grids and
the shared object grid, for one split of the procedural part dataset; and padded batches of them.

`part_arrays(split, n_per_category)` builds the arrays once and caches them as .npz. Grids are stored
bit-packed like `gfx.data.parts3d.build_parts` does. `part_batches` yields training batches of whole
objects, parts padded to the largest part count in the batch:

    "text" (B, 384), "boxes" (B, K, 6), "labels" (B, K) long, "part_mask" (B, K) bool,
    "part_grids" (B, K, R, R, R) bool, "object_grid" (B, Ro, Ro, Ro) bool
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import torch

from gfx.files import write_bytes
from gfx.paths import cache_dir
from gfx.recipes.batching import Batches, by_size

log = logging.getLogger(__name__)

CACHE_DIR = cache_dir("parts3d")
"""Where built training arrays are cached (`gfx.paths.cache_dir`; not committed)."""


def embed_captions(captions: list[str], batch_size: int = 64) -> np.ndarray:
    """MiniLM sentence embeddings (N, 384) float32 of captions (the frozen shared encoder)."""
    from gfx.backbones.text_encoder import text_encoder

    encoder = text_encoder()
    chunks = [
        encoder.embed(captions[i : i + batch_size]).numpy() for i in range(0, len(captions), batch_size)
    ]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, 384), np.float32)


def part_arrays(
    split: str,
    n_per_category: int,
    *,
    part_resolution: int = 16,
    object_resolution: int = 32,
    cache_dir: str | Path | None = CACHE_DIR,
) -> dict[str, np.ndarray]:
    """FullPart arrays of one split (cached).

    Returns:
        ids (N,) str, captions (N,) str, text (N, 384) float32, offsets (N + 1,) int64 (parts of object n
        are rows offsets[n]:offsets[n+1]), boxes (P, 6) float32, labels (P,) int64 into `LABELS`,
        part_grids (P, R, R, R) bool in each part's box frame, object_grids (N, Ro, Ro, Ro) bool over
        [-1, 1]^3 (the union of the parts, `gfx.recipes.parts3d.object_grid`).
    """
    from gfx.data.parts3d import GENERATOR_VERSION, iter_objects
    from gfx.mesh.parts import part_grids
    from gfx.mesh.voxels import voxelize_parts
    from gfx.recipes.parts3d import part_mesh

    path = None
    if cache_dir is not None:
        name = (
            f"fullpart-{GENERATOR_VERSION}-{n_per_category}-{part_resolution}-{object_resolution}-{split}.npz"
        )
        path = Path(cache_dir) / name
        if path.is_file():
            return _unpack(path, part_resolution, object_resolution)
    ids, captions, offsets, boxes, labels, grids, objects = [], [], [0], [], [], [], []
    for obj in iter_objects(n_per_category, split=split):
        ids.append(obj.id)
        captions.append(obj.caption)
        mesh = part_mesh(obj)
        offsets.append(offsets[-1] + len(mesh))
        boxes.append(obj.boxes)
        labels.append(obj.label_ids)
        grids.append(np.packbits(part_grids(mesh, part_resolution).reshape(len(mesh), -1), axis=1))
        objects.append(np.packbits(voxelize_parts(mesh, object_resolution)[0].reshape(-1)))
    arrays = {
        "ids": np.array(ids, dtype=str),
        "captions": np.array(captions, dtype=str),
        "text": embed_captions(captions),
        "offsets": np.array(offsets, dtype=np.int64),
        "boxes": np.concatenate(boxes).astype(np.float32),
        "labels": np.concatenate(labels),
        "part_grids": np.concatenate(grids),
        "object_grids": np.stack(objects),
    }
    if path is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        write_bytes(path, buffer.getvalue())
        log.info("cached %d %s objects in %s", len(ids), split, path)
        return _unpack(path, part_resolution, object_resolution)
    return _unpacked(arrays, part_resolution, object_resolution)


def _unpack(path: Path, r: int, ro: int) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return _unpacked({k: data[k] for k in data.files}, r, ro)


def _unpacked(arrays: dict, r: int, ro: int) -> dict[str, np.ndarray]:
    arrays = dict(arrays)
    arrays["part_grids"] = (
        np.unpackbits(arrays["part_grids"], axis=1, count=r**3).reshape(-1, r, r, r).astype(bool)
    )
    arrays["object_grids"] = (
        np.unpackbits(arrays["object_grids"], axis=1, count=ro**3).reshape(-1, ro, ro, ro).astype(bool)
    )
    return arrays


def object_batch(arrays: dict[str, np.ndarray], rows: np.ndarray | list[int]) -> dict[str, torch.Tensor]:
    """A padded batch of the objects `rows` of `arrays` (keys in the module docstring)."""
    offsets = arrays["offsets"]
    counts = [int(offsets[i + 1] - offsets[i]) for i in rows]
    B, K = len(rows), max(counts)
    r = arrays["part_grids"].shape[1]
    boxes = np.zeros((B, K, 6), np.float32)
    labels = np.zeros((B, K), np.int64)
    mask = np.zeros((B, K), bool)
    grids = np.zeros((B, K, r, r, r), bool)
    for b, (i, k) in enumerate(zip(rows, counts, strict=True)):
        sl = slice(offsets[i], offsets[i] + k)
        boxes[b, :k], labels[b, :k], mask[b, :k], grids[b, :k] = (
            arrays["boxes"][sl],
            arrays["labels"][sl],
            True,
            arrays["part_grids"][sl],
        )
    return {
        "text": torch.from_numpy(arrays["text"][list(rows)]),
        "boxes": torch.from_numpy(boxes),
        "labels": torch.from_numpy(labels),
        "part_mask": torch.from_numpy(mask),
        "part_grids": torch.from_numpy(grids),
        "object_grid": torch.from_numpy(arrays["object_grids"][list(rows)]),
    }


def part_batches(arrays: dict[str, np.ndarray], batch_size: int, seed: int = 0, *, shuffle: bool = True,
                 drop_last: bool = True) -> Batches:
    """`Batches` of whole objects (`object_batch`), objects of similar part count grouped to limit padding."""
    return Batches(len(arrays["ids"]), batch_size, lambda rows, rng: object_batch(arrays, rows), seed=seed,
                   order=by_size(np.diff(arrays["offsets"])), shuffle=shuffle, drop_last=drop_last)
