"""Batching helpers shared by the recipes: `epoch -> batches` callables, as `gfx.train.train` takes them."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def tensor_batches(data: dict[str, Tensor], batch_size: int, seed: int, drop_last: bool = True):
    """`epoch -> batches` of rows of equally long tensors, seeded shuffle."""

    def epoch_batches(epoch: int) -> list[dict[str, Tensor]]:
        n = len(next(iter(data.values())))
        order = torch.from_numpy(np.random.default_rng(seed * 7919 + epoch).permutation(n))
        stop = n - batch_size + 1 if drop_last else n
        return [
            {k: v[order[i : i + batch_size]] for k, v in data.items()} for i in range(0, stop, batch_size)
        ]

    return epoch_batches
