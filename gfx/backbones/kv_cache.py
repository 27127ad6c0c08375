"""An explicit, preallocated key/value cache: append, crop/rollback, fork, reorder, gather.

The attention layers write into it (`write`), and the model advances it once per forward
(`commit`). Decoding code manipulates it directly: `rollback(n)` after rejected draft tokens,
`fork()` for drafts and particles, `reorder(rows)` for beams/resampling, `gather(slots)` to keep an
accepted tree path or the tokens a cache-reduction policy chose.

Slots are in temporal order. Keys are stored after the rotary embedding, so a slot's position is
baked into its key; `position` counts every token seen (it keeps growing when slots are evicted).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

AttentionObserver = Callable[[int, Tensor, Tensor, Tensor], None]
"""(layer, q: (B, H, T, D), keys: (B, H_kv, S, D), mask: (B, T, S) bool) -> None, called per layer."""

CommitHook = Callable[["KVCache"], None]
"""(cache) -> None, called after each forward pass's `commit` (a cache-reduction policy evicts there)."""


class KVCache:
    """Keys and values of every layer for a batch of sequences.

    Attributes:
        keys, values: (L, B, H_kv, S_max, D) preallocated buffers.
        valid: (L, B, S_max) bool; False for padding tokens and unused slots.
        length: slots in use, the same for every row and layer.
        position: absolute position of the next token (the default RoPE position).
        observer: optional callback that sees each layer's queries and keys (used by Keyformer).
        on_commit: optional callback run after each `commit` (Keyformer evicts there).
    """

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_kv_head: int,
        head_dim: int,
        max_len: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ):
        shape = (n_layer, batch_size, n_kv_head, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.valid = torch.zeros((n_layer, batch_size, max_len), dtype=torch.bool, device=device)
        self.length = 0
        self.position = 0
        self.observer: AttentionObserver | None = None
        self.on_commit: CommitHook | None = None

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    @property
    def device(self) -> torch.device:
        return self.keys.device

    def write(self, layer: int, k: Tensor, v: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Store T new keys/values of one layer after the committed slots; return everything so far.

        Args:
            layer: layer index.
            k, v: (B, H_kv, T, D) new keys (already rotated) and values.
            valid: (B, T) bool, False for padding tokens.

        Returns:
            keys, values: (B, H_kv, length + T, D); valid: (B, length + T) bool.
        """
        start, end = self.length, self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(
                f"KV cache full: {end} slots needed, capacity {self.capacity}; allocate it with a larger max_len"
            )
        self.keys[layer, :, :, start:end] = k
        self.values[layer, :, :, start:end] = v
        self.valid[layer, :, start:end] = valid
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end], self.valid[layer, :, :end]

    def commit(self, n: int) -> None:
        """Advance past the `n` slots every layer has just written, then run `on_commit`."""
        self.length += n
        self.position += n
        if self.on_commit is not None:
            self.on_commit(self)

    def crop(self, length: int) -> None:
        """Keep only the first `length` slots (the position moves back by the same amount)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot crop a cache of length {self.length} to {length}")
        self.position -= self.length - length
        self.valid[:, :, length : self.length] = False
        self.length = length

    def rollback(self, n: int) -> None:
        """Forget the last `n` tokens."""
        self.crop(self.length - n)

    def fork(self) -> KVCache:
        """An independent copy (for drafts, beams, particles). The hooks are not copied."""
        new = KVCache.__new__(KVCache)
        new.keys, new.values, new.valid = self.keys.clone(), self.values.clone(), self.valid.clone()
        new.length, new.position, new.observer, new.on_commit = self.length, self.position, None, None
        return new

    def reorder(self, rows: Tensor) -> None:
        """Replace the batch by rows `rows` of it: (B',) long; B' may differ from B (beams, CFG)."""
        rows = rows.to(self.device)
        self.keys = self.keys.index_select(1, rows)
        self.values = self.values.index_select(1, rows)
        self.valid = self.valid.index_select(1, rows)

    def gather(self, slots: Tensor) -> None:
        """Keep the given slots, in the given order, and drop the rest; `position` is unchanged.

        Args:
            slots: (S',) long for every row and layer, (B, S') per row, or (L, B, S') per layer and
                row; indices into the committed slots, in increasing (temporal) order.
        """
        L, B, H, _, D = self.keys.shape
        slots = slots.to(self.device)
        if slots.dim() == 1:
            slots = slots.expand(L, B, -1)
        elif slots.dim() == 2:
            slots = slots.expand(L, -1, -1)
        n = slots.shape[-1]
        index = slots[:, :, None, :, None].expand(L, B, H, n, D)
        keys = self.keys.gather(3, index)
        values = self.values.gather(3, index)
        valid = self.valid.gather(2, slots)
        self.keys[:, :, :, :n], self.values[:, :, :, :n], self.valid[:, :, :n] = keys, values, valid
        self.valid[:, :, n:] = False
        self.length = n

    def keep(self, start: int, slots: Tensor) -> None:
        """Keep the slots before `start` plus `slots` (increasing, all >= start), moved to start, start + 1, ...

        Cheaper than `gather` when only a short tail changes (accepting a path of a speculative tree):
        only the kept tail slots are copied. `position` moves back by the number of dropped slots.

        Args:
            slots: (S',) long, indices into the committed slots.
        """
        n = len(slots)
        if n and (int(slots[0]) < start or int(slots[-1]) >= self.length):
            raise ValueError(f"slots must lie in [{start}, {self.length}), got {slots.tolist()}")
        source = slots.to(self.device)
        self.keys[:, :, :, start : start + n] = self.keys.index_select(3, source)
        self.values[:, :, :, start : start + n] = self.values.index_select(3, source)
        self.valid[:, :, start : start + n] = self.valid.index_select(2, source)
        self.crop(start + n)

    def nbytes(self) -> int:
        """Bytes held by the committed slots (keys and values)."""
        per_slot = self.keys[:, :, :, :1].numel() * self.keys.element_size() * 2
        return per_slot * self.length


class FullCache:
    """The default cache policy of `generate`: the model's own cache, keeping every slot."""

    def new_cache(self, model, batch_size: int, max_len: int):
        """An empty cache of `model` for `batch_size` rows and `max_len` slots."""
        return model.new_cache(batch_size, max_len)


FULL_CACHE = FullCache()
