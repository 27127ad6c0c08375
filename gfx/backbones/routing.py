"""R2R token routing (Fu et al. 2025, "Roads to Rome", arXiv 2505.21600): a small model decodes, and a small
router decides per token whether the large model decodes that token instead.

The router is an MLP over what the small model already computed for the next token: its last hidden state,
its top-k probabilities and its entropy. It predicts whether the small model's choice would *diverge* from the
large model's. The paper labels divergence in two steps: first the tokens where the two models' top-1 differ,
then a continuation and an LLM verifier keep only the differences that change the outcome. gfx keeps the first
step only (`divergence_labels`): a token is divergent when the two greedy choices differ.

Decoding (`generate_routed`, one sequence): the small model runs on every token. When the router's probability
exceeds `threshold`, the large model catches up in one forward over the tokens it has not seen yet (its own KV
cache holds the rest) and its logits choose the token. Threshold 0 is the large model alone, threshold 1 the
small model alone (`tests/backbones/test_routing.py` checks both on greedy decoding).

    router = TokenRouter(small.config.d_model)
    features, labels = divergence_labels(small, large, batch)      # train the router on these (BCE)
    out = generate_routed(small, large, router, prompt, threshold=0.3, max_new_tokens=128)
    out.tokens, out.large_share, out.large_calls
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.constraints import Constraint
from gfx.backbones.sampling import GREEDY, SamplingConfig, make_generator
from gfx.backbones.speculative import SpeculativeRow


class TokenRouter(nn.Module):
    """Probability that the small model's next token diverges from the large model's.

    Args:
        d_model: the small model's width.
        hidden: the MLP's hidden width.
        top_k: how many of the small model's top probabilities it reads.
    """

    def __init__(self, d_model: int, hidden: int = 64, top_k: int = 8):
        super().__init__()
        self.top_k = top_k
        self.mlp = nn.Sequential(nn.Linear(d_model + top_k + 1, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def features(self, hidden: Tensor, logits: Tensor) -> Tensor:
        """hidden (..., d_model) and logits (..., V) of the small model -> (..., d_model + top_k + 1)."""
        logp = F.log_softmax(logits.float(), dim=-1)
        entropy = -(logp.exp() * logp).sum(-1, keepdim=True)
        return torch.cat([hidden.float(), logp.topk(self.top_k, dim=-1).values.exp(), entropy], dim=-1)

    def forward(self, features: Tensor) -> Tensor:
        """(..., d_model + top_k + 1) features -> (...) divergence logits (apply a sigmoid for probabilities)."""
        return self.mlp(features)[..., 0]


@torch.no_grad()
def divergence_labels(small, large, router: TokenRouter, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Teacher-forced router examples: for each position that predicts a target token, the small model's features
    and whether the two models' greedy next tokens differ.

    Args:
        small, large: `Transformer`s over the same vocabulary.
        tokens: (B, T) long; mask: (B, T) bool, False on padding.

    Returns:
        features (N, d_model + top_k + 1) float and labels (N,) float in {0, 1}, N = positions with a target.
    """
    hidden = small.hidden(tokens, attention_mask=mask)  # (B, T, C)
    small_logits = small.head(hidden)
    large_logits = large(tokens, attention_mask=mask)
    keep = mask[:, :-1] & mask[:, 1:]  # (B, T - 1): position t predicts the target at t + 1
    features = router.features(hidden[:, :-1], small_logits[:, :-1])[keep]
    labels = small_logits[:, :-1].argmax(-1) != large_logits[:, :-1].argmax(-1)
    return features, labels[keep].float()


@dataclass(frozen=True)
class RoutedOutput:
    """What `generate_routed` returns.

    Attributes:
        tokens: the new tokens, the stop token included.
        from_large: per new token, True where the large model chose it.
        finished: True where a stop token or a completed constraint ended the sequence.
        small_calls, large_calls: forward passes of each model, the prefills included.
    """

    tokens: list[int]
    from_large: list[bool]
    finished: bool
    small_calls: int
    large_calls: int

    @property
    def large_share(self) -> float:
        """Share of the new tokens the large model chose."""
        return sum(self.from_large) / max(len(self.from_large), 1)


@torch.no_grad()
def generate_routed(
    small,
    large,
    router: TokenRouter,
    prompt: Sequence[int],
    *,
    threshold: float,
    max_new_tokens: int,
    sampling: SamplingConfig = GREEDY,
    constraint: Constraint | None = None,
    stop_tokens: Sequence[int] = (),
    seed: int | None = None,
) -> RoutedOutput:
    """Decode one sequence with the small model, handing each token whose divergence probability exceeds
    `threshold` to the large model (0: every token, 1: none).

    Args:
        small, large: `Transformer`s over the same vocabulary (no prefix conditioning).
        router: scores the small model's state before each token.
        prompt: the prompt's token ids (at least one).
        threshold: in [0, 1]; the router's probability must exceed it to call the large model.
        max_new_tokens, sampling, constraint, stop_tokens, seed: as in `generate` (one constraint, advanced
            through nothing: give it in the state after the prompt).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold {threshold} must be in [0, 1] (0: the large model alone, 1: the small alone)")
    tokens = torch.as_tensor(list(prompt), dtype=torch.long)[None]  # (1, T)
    capacity = tokens.shape[1] + max_new_tokens
    small_cache, large_cache = small.new_cache(1, capacity), large.new_cache(1, capacity)
    row = SpeculativeRow(tokens[0], small.config.vocab_size, sampling, constraint, make_generator(seed, tokens.device),
                         stop_tokens, max_new_tokens)
    hidden = small.hidden(tokens, cache=small_cache)[:, -1]  # (1, C)
    unseen = tokens  # tokens the large model has not read yet, (1, n)
    from_large, small_calls, large_calls = [], 1, 0
    while True:
        logits = small.head(hidden)  # (1, V)
        use_large = threshold == 0.0 or (
            threshold < 1.0 and float(torch.sigmoid(router(router.features(hidden, logits)))) > threshold
        )
        if use_large:
            logits = large(unseen, cache=large_cache, logits_to_keep=1)[:, 0]
            large_calls += 1
            unseen = unseen[:, :0]
        token, _ = row.choose(logits, [])
        from_large.append(use_large)
        if row.emit(token):
            break
        step = torch.tensor([[token]])
        unseen = torch.cat([unseen, step], dim=1)
        hidden = small.hidden(step, cache=small_cache)[:, -1]
        small_calls += 1
    return RoutedOutput(row.tokens, from_large[: len(row.tokens)], row.finished, small_calls, large_calls)
