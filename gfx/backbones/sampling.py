"""Next-token samplers: repetition penalty, temperature, top-k, top-p, min-p, classifier-free guidance.

Order of operations (as in HF transformers): repetition penalty on the raw logits, then temperature,
then top-k, top-p and min-p filtering, then a draw from the softmax. Temperature 0 means greedy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SamplingConfig:
    """How one next token is chosen from logits."""

    temperature: float = 1.0  # 0: greedy (argmax)
    top_k: int = 0  # keep the k most likely tokens; 0: off
    top_p: float = 1.0  # keep the smallest set with this much probability; 1: off
    min_p: float = 0.0  # drop tokens below min_p * p(most likely); 0: off
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the sequence; 1: off

    def __post_init__(self):
        if self.temperature < 0 or not 0 < self.top_p <= 1 or not 0 <= self.min_p < 1 or self.top_k < 0:
            raise ValueError(
                f"invalid sampling settings {self}: need temperature >= 0, 0 < top_p <= 1, "
                "0 <= min_p < 1, top_k >= 0"
            )
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def truncates(self) -> bool:
        """True when top-k, top-p or min-p cut the distribution (so it depends on which tokens are masked)."""
        return self.top_k > 0 or self.top_p < 1 or self.min_p > 0


GREEDY = SamplingConfig(temperature=0.0)


def repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """Divide positive (multiply negative) logits of already-seen tokens by `penalty`.

    Args:
        logits: (B, V) float.
        seen: (B, V) bool, True for tokens present in the sequence so far.
    """
    if penalty == 1.0:
        return logits
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def filter_logits(logits: Tensor, config: SamplingConfig) -> Tensor:
    """Temperature, then top-k, top-p and min-p: (B, V) logits -> (B, V) logits, removed tokens at -inf."""
    logits = logits / config.temperature
    if config.top_k and config.top_k < logits.shape[-1]:
        kth = logits.topk(config.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p < 1.0:
        logits = top_p_filter(logits, config.top_p)
    if config.min_p > 0:
        probs = logits.softmax(-1)
        logits = logits.masked_fill(probs < config.min_p * probs.max(-1, keepdim=True).values, float("-inf"))
    return logits


NUCLEUS_CANDIDATES = (32, 256)
"""How many most likely tokens `top_p_filter` ranks, in turn, before it sorts the whole row: the first count that
holds p of the mass in every row is used (a small top-k costs a fraction of a large one)."""


def top_p_filter(logits: Tensor, top_p: float) -> Tensor:
    """Keep the smallest set of most likely tokens holding `top_p` of the probability: (B, V) -> (B, V), the rest at
    -inf. Exact; the nucleus is found among the `NUCLEUS_CANDIDATES` largest logits (a top-k, much cheaper than
    sorting a large vocabulary) unless some row needs more, then the whole row is sorted."""
    probs = logits.softmax(-1)
    for k in NUCLEUS_CANDIDATES:
        if k < logits.shape[-1]:
            top, order = probs.topk(k, dim=-1)
            if bool((top.sum(-1) >= top_p).all()):
                break
    else:
        top, order = probs.sort(dim=-1, descending=True)
    remove = top.cumsum(-1) - top >= top_p  # the mass before this token is already enough
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, order, ~remove)
    return logits.masked_fill(~keep, float("-inf"))


def distribution(logits: Tensor, config: SamplingConfig, seen: Tensor | None = None) -> Tensor:
    """The probabilities the sampler draws from: (B, V) logits -> (B, V) probs.

    For greedy decoding this is one-hot at the argmax.
    """
    logits = logits.float()
    if seen is not None:
        logits = repetition_penalty(logits, seen, config.repetition_penalty)
    if config.greedy:
        return torch.zeros_like(logits).scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
    return filter_logits(logits, config).softmax(-1)


def choose(
    logits: Tensor,
    config: SamplingConfig,
    generator: torch.Generator | None = None,
    seen: Tensor | None = None,
) -> Tensor:
    """One token per row: (B, V) logits -> (B,) long."""
    if config.greedy:
        logits = logits.float()
        if seen is not None:
            logits = repetition_penalty(logits, seen, config.repetition_penalty)
        return logits.argmax(-1)
    return draw(distribution(logits, config, seen), generator)


def draw(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One index per row from (B, V) probabilities (rows need not sum to 1) -> (B,) long.

    Inverse-CDF sampling: a uniform draw located in the float64 running sum, an order of magnitude faster
    than `torch.multinomial` over a large vocabulary on a CPU. Never returns a zero-probability index.
    """
    cdf = probs.double().cumsum(-1)
    u = torch.rand(len(probs), 1, generator=generator, dtype=torch.float64, device=probs.device) * cdf[:, -1:]
    index = torch.searchsorted(cdf, u, right=True)[:, 0]
    last = probs.shape[-1] - 1 - (probs.flip(-1) > 0).int().argmax(-1)  # u rounded up to the total
    return torch.minimum(index, last)


def guide(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance on log-probabilities: log p_u + scale * (log p_c - log p_u).

    Args:
        cond, uncond: (B, V) logits with and without the condition.
        scale: 1 returns the conditional distribution; > 1 strengthens the condition.
    """
    log_c, log_u = cond.float().log_softmax(-1), uncond.float().log_softmax(-1)
    return log_u + scale * (log_c - log_u)


def make_generator(seed: int | None, device: torch.device | str) -> torch.Generator | None:
    """A torch.Generator on `device` seeded with `seed`, or None (global RNG) when seed is None."""
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
