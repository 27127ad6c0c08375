"""Lexinvariant ID tokens: per-sequence random embeddings for a range of label-like token ids.

Lexinvariant language models (Huang et al. 2023, arXiv 2305.16349) give every token a random Gaussian
vector drawn anew for each sequence, so a token means nothing by itself and the model must infer its
role from the context. Here only a range of ID-like tokens is lexinvariant (part labels, palette
indices: tokens whose names are arbitrary); commands and coordinates keep their learned rows. The same
per-sequence vectors replace those ids' rows of the input embedding and of the output head (tied), so
the model predicts an ID by pointing at a vector it has seen in the sequence.

    model = Transformer(TransformerConfig(..., lexinvariant_ids=(600, 632)))
    model.lexinvariant.draw(batch_size=4)                  # once per batch of sequences
    logits = model(tokens)                                 # ids 600..631 use this draw's vectors

Exactness: relabelling the IDs of a sequence by a permutation, with the draw permuted alike, permutes
the ID logits and changes nothing else; since draws are i.i.d. over ids, the model's output distribution
is invariant to a relabelling. `Transformer.loss` draws per batch; decoding keeps the draw made before
it (one row per sequence: draw for the batch `generate` runs, guidance's extra rows included).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LexinvariantIds(nn.Module):
    """Per-sequence random vectors for the token ids `start <= id < stop`.

    Args:
        start, stop: the ID token range.
        dim: model width; vectors are N(0, 1/dim) per entry (norm about 1).
    """

    def __init__(self, start: int, stop: int, dim: int):
        super().__init__()
        if not 0 <= start < stop:
            raise ValueError(f"lexinvariant id range [{start}, {stop}) is empty or negative")
        self.start, self.stop, self.dim = start, stop, dim
        self.vectors: Tensor | None = None  # (B, stop - start, dim), the current draw

    def draw(self, batch_size: int, generator: torch.Generator | None = None, device=None, dtype=None) -> Tensor:
        """Draw new vectors for `batch_size` sequences: (B, stop - start, dim); kept until the next draw."""
        shape = (batch_size, self.stop - self.start, self.dim)
        self.vectors = torch.randn(shape, generator=generator) / self.dim**0.5
        self.vectors = self.vectors.to(device=device, dtype=dtype)
        return self.vectors

    def _current(self, batch_size: int, like: Tensor) -> Tensor:
        if self.vectors is None or self.vectors.shape[0] != batch_size:
            drawn = "none" if self.vectors is None else self.vectors.shape[0]
            raise ValueError(f"lexinvariant ids need model.lexinvariant.draw({batch_size}) first (drawn: {drawn})")
        return self.vectors.to(device=like.device, dtype=like.dtype)

    def is_id(self, tokens: Tensor) -> Tensor:
        """(...) long -> (...) bool, True for ID tokens."""
        return (tokens >= self.start) & (tokens < self.stop)

    def embed(self, tokens: Tensor, x: Tensor) -> Tensor:
        """Replace the embeddings of ID tokens: tokens (B, T) long, x (B, T, C) -> (B, T, C)."""
        vectors = self._current(tokens.shape[0], x)  # (B, n, C)
        offsets = (tokens - self.start).clamp(0, self.stop - self.start - 1)  # (B, T)
        drawn = torch.gather(vectors, 1, offsets.unsqueeze(-1).expand(*offsets.shape, x.shape[-1]))
        return torch.where(self.is_id(tokens).unsqueeze(-1), drawn, x)

    def logits(self, hidden: Tensor, logits: Tensor) -> Tensor:
        """Replace the ID columns of `logits` by dot products with the drawn vectors:
        hidden (B, T, C), logits (B, T, V) -> (B, T, V)."""
        vectors = self._current(hidden.shape[0], hidden)
        ids = torch.einsum("btc,bnc->btn", hidden, vectors)  # (B, T, n)
        return torch.cat([logits[..., : self.start], ids, logits[..., self.stop :]], dim=-1)
