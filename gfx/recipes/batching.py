"""Seeded batches for `gfx.train.train`, shared by every recipe: an order policy plus a recipe's own collate.

    data = Batches(len(items), 32, collate, seed=0)                  # shuffled, last partial batch dropped
    data = Batches(len(items), 32, collate, seed=0, order=by_size(lengths, window=50))  # little padding
    val = list(Batches(len(val_items), 32, collate, seed=0, shuffle=False, drop_last=False)(0))

Epoch e orders the items with `np.random.default_rng(seed + e)` and collates batch k with its own
`np.random.default_rng([seed, e, k])`, so batch k is the same however it is reached: a resumed run skips
batches without building them (`gfx.train.train` passes `start`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

Collate = Callable[[np.ndarray, np.random.Generator], dict[str, Tensor]]
"""`(indices (B,) int64, rng) -> batch dict` of one batch."""
Order = Callable[[int, int, np.random.Generator | None], list[np.ndarray]]
"""`(n, batch_size, rng or None) -> index chunks` of one epoch; rng None: keep the item order (validation)."""


def shuffled(n: int, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Chunks of a random permutation of range(n) (of range(n) itself when rng is None)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def by_size(sizes: Sequence[int] | np.ndarray, window: int | None = None) -> Order:
    """Chunks of items of similar size (less padding), in random batch order.

    The shuffled items are sorted by size within windows of `window` batches (None: all items), cut into
    chunks, and the chunks shuffled.
    """
    sizes = np.asarray(sizes)

    def order(n: int, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
        items = rng.permutation(n) if rng is not None else np.arange(n)
        span = n if window is None else window * batch_size
        chunks = []
        for offset in range(0, n, max(span, 1)):
            part = sorted(items[offset : offset + span], key=lambda i: sizes[i])
            chunks += [np.asarray(part[k : k + batch_size]) for k in range(0, len(part), batch_size)]
        if rng is not None:
            rng.shuffle(chunks)
        return chunks

    return order


class Batches:
    """Re-iterable, seeded `epoch -> batches` over `n` items (see the module docstring).

    Args:
        n: number of items.
        batch_size: items per batch.
        collate: builds one batch from its item indices and its own generator.
        seed: base seed of the order and of every batch's generator.
        order: the epoch's index chunks; default `shuffled`.
        shuffle: False keeps the items in order (validation); collate still gets a seeded generator.
        drop_last: leave out a last batch shorter than `batch_size`.
    """

    def __init__(self, n: int, batch_size: int, collate: Collate, *, seed: int = 0, order: Order = shuffled,
                 shuffle: bool = True, drop_last: bool = True):
        if n < (batch_size if drop_last else 1):
            raise ValueError(f"{n} items cannot fill a batch of {batch_size}; lower batch_size or add data")
        self.n, self.batch_size, self.collate_fn, self.seed = n, batch_size, collate, seed
        self.order, self.shuffle, self.drop_last = order, shuffle, drop_last

    def chunks(self, epoch: int) -> list[np.ndarray]:
        """The index chunks of one epoch, in batch order."""
        rng = np.random.default_rng(self.seed + epoch) if self.shuffle else None
        chunks = self.order(self.n, self.batch_size, rng)
        return [c for c in chunks if len(c) == self.batch_size] if self.drop_last else chunks

    def __call__(self, epoch: int, start: int = 0) -> Iterator[dict[str, Tensor]]:
        """The batches of one epoch from batch `start` on (the per-epoch form `train` accepts)."""
        for k, chunk in enumerate(self.chunks(epoch)):
            if k >= start:
                yield self.collate_fn(np.asarray(chunk), np.random.default_rng([self.seed, epoch, k]))

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        return self(0)

    def __len__(self) -> int:
        return len(self.chunks(0))


def tensor_batches(data: dict[str, Tensor], batch_size: int, seed: int, drop_last: bool = True) -> Batches:
    """`Batches` of rows of equally long tensors."""
    n = len(next(iter(data.values())))
    return Batches(n, batch_size, lambda index, rng: {k: v[torch.from_numpy(index)] for k, v in data.items()},
                   seed=seed, drop_last=drop_last)
