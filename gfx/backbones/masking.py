"""Constraint masking: choose a token per row among the tokens each row's constraint allows.

`MaskedChooser` is the token chooser of `generate`. Its masks are lazy when that is exact (greedy, or
sampling without top-k/top-p/min-p): a token is first chosen from the unmasked scores, and only rows
whose constraint refuses it fill a mask and choose again. A greedy argmax the constraint accepts is
the masked argmax; a sample it accepts is distributed as the masked distribution, and so is the
redraw, so the output distribution is unchanged while most steps skip the mask. When most first
choices are refused (an untrained model), it falls back to filling masks first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from gfx.backbones.constraints import Constraint, any_allowed, apply_bitmask, new_bitmask
from gfx.backbones.sampling import SamplingConfig, choose

LAZY_TRIAL = 16
"""First choices tried before the accepted fraction may switch a chooser to filling masks first."""


def mask_rows(
    scores: Tensor, constraints: Sequence[Constraint | None], rows: Sequence[int], bitmask: Tensor
) -> tuple[Tensor, Tensor]:
    """Mask the scores of `rows` to the tokens their constraints allow.

    Args:
        scores: (B, V) float next-token scores.
        constraints: one per row; those of `rows` must not be None.
        rows: the rows to mask; the others keep every token.
        bitmask: (B, ceil(V / 32)) int32 CPU buffer, overwritten.

    Returns:
        masked: (B, V) scores with disallowed tokens at -inf; dead: (B,) bool on the scores' device,
        True where a row's constraint allows no token.
    """
    bitmask.fill_(-1)
    for i in rows:
        constraints[i].fill_mask(bitmask, i)
    masked = apply_bitmask(scores, bitmask)
    return masked, ~any_allowed(bitmask, scores.shape[-1]).to(scores.device)


class MaskedChooser:
    """Step 4 of `generate`: one token per row under the constraint masks; one instance per call.

    Called as `chooser(scores, sampling, constraints, generator, seen) -> (tokens, dead, log_weights)`:
    scores (B, V) float; constraints one per row, None where no constraint applies (also finished
    rows); seen (B, V) bool tokens so far (repetition penalty) or None. Returns tokens (B,) long (any
    id in a dead row), dead (B,) bool rows whose constraint allows nothing, log_weights (B,) float64
    zeros (masking is exact, it needs no importance weights).
    """

    def __init__(self):
        self.bitmask: Tensor | None = None
        self.tried = 0  # lazy first choices tested against a constraint
        self.accepted = 0  # ... and accepted by it

    def lazy(self, sampling: SamplingConfig) -> bool:
        """Whether to choose before masking: exact for this sampler, and worth it so far."""
        exact = sampling.greedy or not sampling.truncates
        return exact and (self.tried < LAZY_TRIAL or 2 * self.accepted >= self.tried)

    def __call__(
        self,
        scores: Tensor,
        sampling: SamplingConfig,
        constraints: Sequence[Constraint | None],
        generator: torch.Generator | None = None,
        seen: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        B = scores.shape[0]
        dead = torch.zeros(B, dtype=torch.bool, device=scores.device)
        no_weights = torch.zeros(B, dtype=torch.float64)
        active = [i for i, c in enumerate(constraints) if c is not None]
        if not active:
            return choose(scores, sampling, generator, seen), dead, no_weights
        token, to_mask = None, active
        if self.lazy(sampling):
            token = choose(scores, sampling, generator, seen)  # if accepted, distributed as under the mask
            first = token.tolist()
            to_mask = [i for i in active if not constraints[i].accepts(first[i])]
            self.tried += len(active)
            self.accepted += len(active) - len(to_mask)
        if to_mask:
            if self.bitmask is None:
                self.bitmask = new_bitmask(B, scores.shape[-1])
            scores, dead = mask_rows(scores, constraints, to_mask, self.bitmask)
            if dead.any():
                scores = scores.masked_fill(dead[:, None], 0.0)  # any finite scores: the row is dropped
            redraw = choose(scores, sampling, generator, seen)
            if token is None:
                token = redraw
            else:
                redo = torch.zeros(B, dtype=torch.bool, device=token.device)
                redo[to_mask] = True
                token = torch.where(redo, redraw, token)
        return token, dead, no_weights
