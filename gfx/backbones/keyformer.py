"""Keyformer KV-cache reduction (Adnan et al., MLSys 2024): keep recent tokens plus "key" tokens.

While the cache holds more than `budget` slots, each layer keeps its `recent` newest slots plus the
`budget - recent` older slots with the highest accumulated Keyformer score. The score of a key is
the softmax of the attention logits with Gumbel noise added and a temperature tau that rises from
`tau_start` to `tau_end` over `tau_steps` decoding steps (compensating for the mass of discarded
tokens), summed over heads, queries and steps. Evicted tokens never come back.

    out = generate(model, prompt, max_new_tokens=2048, cache_policy=Keyformer(budget=512, recent=128))

`Keyformer.new_cache` makes a `KVCache` that keeps itself within budget: the attention layers report
their queries and keys through `KVCache.observer`, and the cache evicts after each forward pass's
commit (`KVCache.on_commit`), so the decoding loop treats it as any other cache. Scoring costs one
extra (B, H, T, S) attention-logit product per layer and step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gfx.backbones.kv_cache import KVCache


class Keyformer:
    """A cache policy for `generate(cache_policy=...)`; one instance per generate call.

    Args:
        budget: the most slots a row keeps after a forward pass.
        recent: the newest slots always kept; `budget - recent` older "key" slots are kept by score.
        tau_start, tau_end, tau_steps: the score temperature rises linearly over `tau_steps` steps.
        seed: seeds the Gumbel noise of the scores.
    """

    def __init__(
        self,
        budget: int,
        recent: int,
        *,
        tau_start: float = 1.0,
        tau_end: float = 2.0,
        tau_steps: int = 256,
        seed: int = 0,
    ):
        if not 0 < recent <= budget:
            raise ValueError(f"need 0 < recent ({recent}) <= budget ({budget})")
        self.budget, self.recent = budget, recent
        self.tau_start, self.tau_end, self.tau_steps = tau_start, tau_end, tau_steps
        self.generator = torch.Generator().manual_seed(seed)
        self.scores: Tensor | None = None
        self.step = 0
        self.evicted = 0

    @property
    def tau(self) -> float:
        return self.tau_start + (self.tau_end - self.tau_start) * min(self.step / max(self.tau_steps, 1), 1.0)

    def new_cache(self, model, batch_size: int, max_len: int) -> KVCache:
        """An empty cache of `model` that this policy scores and keeps within budget after every pass."""
        cache = model.new_cache(batch_size, max_len)
        self.attach(cache)
        cache.on_commit = self.reduce
        return cache

    def attach(self, cache: KVCache) -> None:
        """Start scoring `cache`'s keys (evicting stays with the caller: `reduce` after each pass)."""
        L, B = cache.keys.shape[:2]
        self.scores = torch.zeros(L, B, cache.capacity, dtype=torch.float32, device=cache.device)
        self.step = 0
        cache.observer = self.observe

    def observe(self, layer: int, q: Tensor, keys: Tensor, mask: Tensor) -> None:
        """Accumulate scores of one layer: q (B, H, T, D), keys (B, H_kv, S, D), mask (B, T, S) bool."""
        B, H, T, D = q.shape
        keys = keys.repeat_interleave(H // keys.shape[1], dim=1)
        logits = (q.float() @ keys.float().transpose(-1, -2)) / math.sqrt(D)  # (B, H, T, S)
        noise = -torch.log(
            -torch.log(torch.rand(logits.shape, generator=self.generator).clamp_(1e-12, 1 - 1e-7))
        )
        logits = (logits + noise.to(logits.device)).masked_fill(~mask[:, None], float("-inf"))
        probs = (logits / self.tau).softmax(-1).sum(dim=(1, 2))  # (B, S)
        self.scores[layer, :, : probs.shape[-1]] += probs

    def reduce(self, cache: KVCache) -> None:
        """After a forward pass: evict down to `budget` slots if the cache grew past it."""
        self.step += 1
        n = cache.length
        if n <= self.budget:
            return
        older = n - self.recent
        n_key = self.budget - self.recent
        key_slots = self.scores[:, :, :older].topk(n_key, dim=-1).indices.sort(dim=-1).values  # (L, B, n_key)
        L, B = key_slots.shape[:2]
        recent = torch.arange(older, n, device=cache.device).expand(L, B, -1)
        slots = torch.cat([key_slots, recent], dim=-1)
        cache.gather(slots)
        kept = self.scores.gather(2, slots)
        self.scores.zero_()
        self.scores[:, :, : slots.shape[-1]] = kept
        self.evicted += n - self.budget
