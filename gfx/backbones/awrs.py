"""Adaptive weighted rejection sampling (AWRS; Lipkin et al., COLM 2025, arXiv 2504.05410).

For constraints that are expensive to evaluate on the whole vocabulary or are not grammar-shaped
("coordinates stay inside a box"): instead of masking every token, draw tokens *without
replacement* from the model's distribution (Gumbel-top-k order), test each with
`Constraint.accepts`, and take the first accepted one. A second round of the same loop gives a
low-variance unbiased estimate of the constrained normaliser Z = sum of p over allowed tokens, the
importance weight that sequential Monte Carlo needs to undo the bias of local constraining:

    log w = log(1 - sum of p over round-1 rejections) - log(1 + rejections in both rounds)

(following genlm-control's `AWRS.sample`). The weights of a sequence add up over its steps.

    out = generate_awrs(model, prompt, constraints=[box() for _ in range(B)], max_new_tokens=200, seed=0)
    out.log_weights   # (B,) float64, for resampling particles

`generate_awrs` is `decoding.generate` with `awrs_choose` as its token chooser (step 4).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gfx.backbones.constraints import Constraint
from gfx.backbones.decoding import GenerationOutput, generate
from gfx.backbones.sampling import SamplingConfig, choose, distribution, repetition_penalty


def awrs_token(
    probs: Tensor, constraint: Constraint, generator: torch.Generator | None = None
) -> tuple[int | None, float]:
    """One AWRS draw for one sequence.

    Args:
        probs: (V,) the sampler's distribution (after temperature and filtering).
        constraint: tested with `accepts`; its state is not changed.
        generator: random source for the Gumbel keys.

    Returns:
        (token, log_weight); token is None and the weight -inf when no token is allowed.
    """
    device = generator.device if generator is not None else probs.device
    logps = probs.detach().double().log().cpu()
    token, rejections, rejected_logps = None, 0, []
    for _ in range(2):
        gumbel = -torch.log(
            -torch.log(torch.rand(logps.shape, generator=generator, dtype=torch.float64, device=device))
        )
        keys = logps + gumbel.cpu()
        for item in torch.argsort(keys, descending=True).tolist():
            if keys[item] == float("-inf"):
                break
            if constraint.accepts(item):
                token = item if token is None else token
                break
            rejections += 1
            if token is None:
                rejected_logps.append(float(logps[item]))
            logps[item] = float("-inf")
    if token is None:
        return None, float("-inf")
    log_w = -math.log(rejections + 1)
    if rejected_logps:
        rejected_mass = min(sum(math.exp(v) for v in rejected_logps), 1.0)
        log_w += math.log1p(-rejected_mass) if rejected_mass < 1.0 else float("-inf")
    return token, log_w


def awrs_choose(
    scores: Tensor,
    sampling: SamplingConfig,
    constraints: list[Constraint | None],
    generator: torch.Generator | None = None,
    seen: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """AWRS for a batch: one token and log-weight per row (the token chooser of `generate_awrs`).

    Rows without a constraint sample normally (weight 0). Under greedy decoding a row takes the most
    likely accepted token (weight 0: greedy has no proper weight).

    Args:
        scores: (B, V) logits (after guidance).
        sampling: the sampler settings that define the proposal distribution.
        constraints: one per row, or None.
        seen: (B, V) bool tokens seen so far, for the repetition penalty.

    Returns:
        tokens: (B,) long (a dead-end row gets 0); dead: (B,) bool rows with no allowed token;
        log_weights: (B,) float64 (-inf at dead ends).
    """
    tokens = choose(scores, sampling, generator, seen)
    weights = torch.zeros(scores.shape[0], dtype=torch.float64)
    probs = distribution(scores, sampling, seen)
    for i, constraint in enumerate(constraints):
        if constraint is None:
            continue
        if sampling.greedy:
            row = scores[i : i + 1].float()
            if seen is not None:
                row = repetition_penalty(row, seen[i : i + 1], sampling.repetition_penalty)
            ranked = row[0].argsort(descending=True).tolist()
            token = next((t for t in ranked if constraint.accepts(t)), None)
            weight = 0.0 if token is not None else float("-inf")
        else:
            token, weight = awrs_token(probs[i], constraint, generator)
        tokens[i] = 0 if token is None else token
        weights[i] = weight
    return tokens, torch.isinf(weights).to(scores.device), weights


def generate_awrs(model, prompt: Tensor, *, constraints: list[Constraint | None], **options) -> GenerationOutput:
    """`generate` with adaptive weighted rejection sampling: tokens are tested with `Constraint.accepts`
    instead of masked, and `log_weights` holds each row's importance log-weight (-inf at dead ends).

    Args:
        model, prompt: as in `generate`.
        constraints: one per row (None: the row samples freely, weight 0).
        options: the other keyword arguments of `generate` (max_new_tokens, sampling, seed, ...).
    """
    return generate(model, prompt, constraints=constraints, chooser=awrs_choose, **options)
