"""References for training a retrieval-augmented IconShop: for every training icon, the icons of *other*
concepts whose prompts are nearest to its name, so the model learns to compose a new concept from related
ones instead of copying the answer.

    groups = concept_groups(train + val)                   # one id per concept name, shared across splits
    index = IconIndex.build(train, groups[: len(train)])   # what the model trains with and ships
    table = neighbour_table(index, val, groups[len(train):], k=8)   # (N, 8) index rows, own concept excluded
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gfx.data.icons import IconRecord, words
from gfx.svg.icon_retrieval import IconIndex


def concept_groups(records: Sequence[IconRecord]) -> np.ndarray:
    """(N,) int64 concept id per record: icons with the same name (any source) share one."""
    names = sorted({words(r.name) for r in records})
    ids = {name: i for i, name in enumerate(names)}
    return np.array([ids[words(r.name)] for r in records], dtype=np.int64)


def neighbour_table(index: IconIndex, records: Sequence[IconRecord], groups: np.ndarray | None = None, k: int = 8,
                    chunk: int = 1024) -> np.ndarray:
    """(N, k) int64: for record i, the k index rows nearest to its name's words, skipping its own concept
    (`groups[i]`; default: the records are the index's own rows), nearest first."""
    from gfx.backbones.text_encoder import text_encoder

    groups = index.groups if groups is None else np.asarray(groups)
    queries = text_encoder().embed_many([words(r.name) for r in records]).astype(np.float32)
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    table = np.zeros((len(records), k), dtype=np.int64)
    for start in range(0, len(records), chunk):
        scores = queries[start : start + chunk] @ index.embeddings.T  # (c, N)
        own = groups[start : start + chunk, None] == index.groups[None, :]
        scores[own] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        table[start : start + chunk] = np.take_along_axis(top, order, axis=1)
    return table
