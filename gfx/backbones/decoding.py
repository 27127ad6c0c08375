"""`generate()`: batched autoregressive decoding with samplers, guidance, stop tokens and constraints.

    out = generate(model, prompt, max_new_tokens=256, sampling=SamplingConfig(temperature=0.8, top_p=0.95),
                   prefix=text_states, guidance_scale=3.0, stop_tokens=[eos],
                   constraints=[grammar.constraint() for _ in range(B)], seed=0)
    out.sequences()   # list of token lists, stop token included

Each step: 1. forward the new tokens through the model (KV cache), 2. classifier-free guidance,
3. constraint masks (or AWRS rejection tests), 4. choose a token per row, 5. advance constraints and
finish rows that hit a stop token or completed their constraint. Finished rows emit `pad_id`.

Masks are lazy when that is exact (greedy, or sampling without top-k/top-p/min-p): a token is first chosen
from the unmasked scores, and only rows whose constraint refuses it fill a mask and choose again. A greedy
argmax the constraint accepts is the masked argmax; a sample it accepts is distributed as the masked
distribution, and so is the redraw, so the output distribution is unchanged while most steps skip the mask.
When most first choices are refused (an untrained model), decoding falls back to filling masks first.

The model is anything with `new_cache(batch_size, max_len)` and
`__call__(tokens, *, prefix, prefix_mask, cache, attention_mask, logits_to_keep) -> logits (B, T, V)`:
`Transformer` and `language.CausalLM` both qualify.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gfx.backbones.awrs import awrs_choose
from gfx.backbones.constraints import Constraint, any_allowed, apply_bitmask, new_bitmask
from gfx.backbones.sampling import SamplingConfig, choose, guide, make_generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationOutput:
    """What `generate` returns.

    Attributes:
        tokens: (B, N) long new tokens; `pad_id` after a row finished.
        lengths: (B,) long new tokens per row, the stop token included.
        finished: (B,) bool, True where a row stopped (stop token, completed constraint or dead end)
            rather than running out of `max_new_tokens`.
        valid: (B,) bool, False where a constraint allowed no token (a dead end).
        log_weights: (B,) float64 importance log-weights (AWRS); zeros otherwise.
        forward_passes: model calls made, the prefill included.
    """

    tokens: Tensor
    lengths: Tensor
    finished: Tensor
    valid: Tensor
    log_weights: Tensor
    forward_passes: int

    def sequences(self) -> list[list[int]]:
        """Each row's new tokens, without padding."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths.tolist(), strict=True)]


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[Tensor, Tensor]:
    """Stack token lists of different lengths, padding on the left.

    Returns:
        tokens: (B, T) long; mask: (B, T) bool, False on padding.
    """
    width = max(len(s) for s in sequences)
    tokens = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(sequences), width, dtype=torch.bool)
    for i, seq in enumerate(sequences):
        if len(seq):
            tokens[i, width - len(seq) :] = torch.as_tensor(list(seq), dtype=torch.long)
            mask[i, width - len(seq) :] = True
    return tokens, mask


@torch.no_grad()
def generate(
    model,
    prompt: Tensor,
    *,
    max_new_tokens: int,
    sampling: SamplingConfig | None = None,
    prompt_mask: Tensor | None = None,
    prefix: Tensor | None = None,
    prefix_mask: Tensor | None = None,
    guidance_scale: float = 1.0,
    uncond_prompt: Tensor | None = None,
    uncond_prompt_mask: Tensor | None = None,
    uncond_prefix: Tensor | None = None,
    uncond_prefix_mask: Tensor | None = None,
    stop_tokens: Sequence[int] = (),
    constraints: Sequence[Constraint | None] | None = None,
    constraint_mode: str = "mask",
    pad_id: int = 0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    cache_policy=None,
    draft=None,
) -> GenerationOutput:
    """Sample up to `max_new_tokens` tokens after `prompt` for every row.

    Args:
        model: the backbone (see the module docstring).
        prompt: (B, T) long, T >= 1 (usually a BOS token); left-padded when rows differ in length.
        max_new_tokens: the most tokens generated per row.
        sampling: sampler settings; default `SamplingConfig()` (temperature 1, no filtering).
        prompt_mask: (B, T) bool, False on left padding.
        prefix: (B, P, prefix_dim) conditioning vectors for models with prefix conditioning.
        prefix_mask: (B, P) bool, False for padded prefix entries.
        guidance_scale: classifier-free guidance scale; 1 disables guidance (one branch).
        uncond_prompt, uncond_prompt_mask: the unconditional branch's prompt; default the prompt.
        uncond_prefix, uncond_prefix_mask: the unconditional branch's prefix; default the prefix
            fully masked out (the model sees no condition).
        stop_tokens: ids that finish a row (emitted, then padding).
        constraints: one `Constraint` (or None) per row, applied every step.
        constraint_mode: "mask" (fill a token mask each step) or "awrs" (adaptive weighted rejection
            sampling: test sampled tokens with `Constraint.accepts`, return importance weights).
        pad_id: the id written after a row finished.
        seed: seeds a private generator for reproducible sampling; or pass `generator`.
        use_cache: False recomputes the whole sequence every step (a reference for tests/benches).
        cache_policy: e.g. `Keyformer(...)`, to bound the KV cache; None keeps everything.
        draft: e.g. `TokenRecycling(...)`, for self-speculative decoding (rows decoded one at a time).

    Returns:
        A `GenerationOutput`.
    """
    sampling = sampling or SamplingConfig()
    B = prompt.shape[0]
    device = prompt.device
    generator = generator or make_generator(seed, device)
    constraints = list(constraints) if constraints is not None else [None] * B
    if len(constraints) != B:
        raise ValueError(f"got {len(constraints)} constraints for {B} rows")
    if constraint_mode not in ("mask", "awrs"):
        raise ValueError(f"constraint_mode must be 'mask' or 'awrs', got {constraint_mode!r}")
    if draft is not None:
        if guidance_scale != 1.0 or constraint_mode != "mask" or cache_policy is not None or not use_cache:
            raise ValueError(
                "speculative decoding (draft=) works with the KV cache, mask constraints, no guidance "
                "and no cache_policy"
            )
        return _generate_speculative(
            model,
            prompt,
            prompt_mask,
            prefix,
            prefix_mask,
            max_new_tokens,
            sampling,
            stop_tokens,
            constraints,
            pad_id,
            generator,
            draft,
        )

    tokens, mask, pre, pre_mask = _rows(
        prompt,
        prompt_mask,
        prefix,
        prefix_mask,
        guidance_scale,
        uncond_prompt,
        uncond_prompt_mask,
        uncond_prefix,
        uncond_prefix_mask,
        pad_id,
    )
    rows = tokens.shape[0]
    P = 0 if pre is None else pre.shape[1]
    stop = torch.as_tensor(list(stop_tokens), dtype=torch.long, device=device)
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    valid = torch.ones(B, dtype=torch.bool)
    log_weights = torch.zeros(B, dtype=torch.float64)
    seen = None
    if sampling.repetition_penalty != 1.0:
        counts = torch.zeros(B, _vocab_size(model), dtype=torch.long, device=device)
        present = prompt_mask.long() if prompt_mask is not None else torch.ones_like(prompt)
        seen = counts.scatter_add_(1, prompt, present) > 0

    cache = None
    if use_cache:
        cache = model.new_cache(rows, P + tokens.shape[1] + max_new_tokens)
        if cache_policy is not None:
            cache_policy.attach(cache)
    logits = _step(model, tokens, mask, pre, pre_mask, cache, cache_policy)
    passes = 1
    bitmask = None
    lazy_mask = sampling.greedy or not sampling.truncates
    first_choices = [0, 0]  # [tried, accepted] of lazy first choices: stay lazy while most are accepted
    for step in range(max_new_tokens):
        scores = guide(logits[:B], logits[B:], guidance_scale) if rows > B else logits.float()
        finished_rows = done.tolist()
        active = [i for i in range(B) if constraints[i] is not None and not finished_rows[i]]
        if active and constraint_mode == "mask":
            token, to_mask = None, active
            if lazy_mask and (first_choices[0] < 16 or 2 * first_choices[1] >= first_choices[0]):
                token = choose(scores, sampling, generator, seen)  # if accepted, distributed as under the mask
                first = token.tolist()
                to_mask = [i for i in active if not constraints[i].accepts(first[i])]
                first_choices[0] += len(active)
                first_choices[1] += len(active) - len(to_mask)
            if to_mask:
                bitmask = new_bitmask(B, scores.shape[-1]) if bitmask is None else bitmask.fill_(-1)
                for i in to_mask:
                    constraints[i].fill_mask(bitmask, i)
                scores = apply_bitmask(scores, bitmask)
                dead = ~any_allowed(bitmask, scores.shape[-1]).to(device) & ~done
                if dead.any():
                    _mark_dead(dead, done, valid, log_weights)
                    scores = scores.masked_fill(dead[:, None], 0.0)
                masked_choice = choose(scores, sampling, generator, seen)
                if token is None:
                    token = masked_choice
                else:
                    redo = torch.zeros(B, dtype=torch.bool, device=token.device)
                    redo[to_mask] = True
                    token = torch.where(redo, masked_choice, token)
        elif active and constraint_mode == "awrs":
            rows_on = set(active)
            token, weights = awrs_choose(
                scores,
                sampling,
                [c if i in rows_on else None for i, c in enumerate(constraints)],
                generator,
                seen,
            )
            log_weights += weights
            dead = torch.isinf(weights).to(device) & ~done
            _mark_dead(dead, done, valid, log_weights)
        else:
            token = choose(scores, sampling, generator, seen)
        token = token.masked_fill(done, pad_id)
        out[:, step] = token
        lengths += (~done).long()
        if seen is not None:
            seen.scatter_(1, token[:, None], ~done[:, None])
        if active:
            finished_rows, chosen = done.tolist(), token.tolist()
            for i in active:
                if finished_rows[i]:
                    continue
                if not constraints[i].advance(chosen[i]):
                    raise RuntimeError(f"constraint of row {i} refused token {chosen[i]} that it allowed")
                if constraints[i].is_done():
                    done[i] = True
        done |= torch.isin(token, stop)
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        # finished rows feed token 0 (any valid id); guidance repeats the tokens for the unconditional rows
        next_tokens = token.masked_fill(done, 0)[:, None].repeat(rows // B, 1)
        if cache is None:
            tokens = torch.cat([tokens, next_tokens], 1)
            if mask is not None:
                mask = torch.cat([mask, torch.ones_like(next_tokens, dtype=torch.bool)], 1)
            logits = _step(model, tokens, mask, pre, pre_mask, None)
        else:
            logits = _step(model, next_tokens, None, None, None, cache, cache_policy)
        passes += 1
    return GenerationOutput(out, lengths, done, valid, log_weights, passes)


def _step(model, tokens, mask, prefix, prefix_mask, cache, policy=None) -> Tensor:
    """Last-position logits (B, V) of one forward pass; the cache (if any) grows by its tokens."""
    logits = model(
        tokens, prefix=prefix, prefix_mask=prefix_mask, cache=cache, attention_mask=mask, logits_to_keep=1
    )[:, 0]
    if policy is not None:
        policy.reduce(cache)
    return logits


def _mark_dead(dead: Tensor, done: Tensor, valid: Tensor, log_weights: Tensor) -> None:
    if dead.any():
        log.warning("constraint dead end in rows %s: no allowed token", dead.nonzero().flatten().tolist())
        done |= dead
        valid[dead.cpu()] = False
        log_weights[dead.cpu()] = float("-inf")


def _vocab_size(model) -> int:
    config = getattr(model, "config", None)
    return int(config.vocab_size)


def _rows(
    prompt, prompt_mask, prefix, prefix_mask, scale, u_prompt, u_prompt_mask, u_prefix, u_prefix_mask, pad_id
):
    """The batch rows to run: the prompts, plus the unconditional branch under guidance."""
    if scale == 1.0:
        return prompt, prompt_mask, prefix, prefix_mask
    B = prompt.shape[0]
    u_prompt = prompt if u_prompt is None else u_prompt
    u_prompt_mask = (prompt_mask if u_prompt is prompt else None) if u_prompt_mask is None else u_prompt_mask
    p_mask = prompt_mask if prompt_mask is not None else _all_valid(prompt)
    u_mask = u_prompt_mask if u_prompt_mask is not None else _all_valid(u_prompt)
    width = max(prompt.shape[1], u_prompt.shape[1])
    tokens = torch.cat(
        [
            F.pad(prompt, (width - prompt.shape[1], 0), value=pad_id),
            F.pad(u_prompt.expand(B, -1), (width - u_prompt.shape[1], 0), value=pad_id),
        ]
    )
    mask = torch.cat(
        [
            F.pad(p_mask, (width - p_mask.shape[1], 0)),
            F.pad(u_mask.expand(B, -1), (width - u_mask.shape[1], 0)),
        ]
    )
    if prefix is None:
        return tokens, mask, None, None
    pre_mask = prefix_mask if prefix_mask is not None else _all_valid(prefix)
    if u_prefix is None:
        u_prefix, u_pre_mask = torch.zeros_like(prefix), torch.zeros_like(pre_mask)
    else:
        u_pre_mask = u_prefix_mask if u_prefix_mask is not None else _all_valid(u_prefix)
    P = max(prefix.shape[1], u_prefix.shape[1])
    pre = torch.cat(
        [F.pad(prefix, (0, 0, 0, P - prefix.shape[1])), F.pad(u_prefix, (0, 0, 0, P - u_prefix.shape[1]))]
    )
    pre_mask = torch.cat(
        [F.pad(pre_mask, (0, P - pre_mask.shape[1])), F.pad(u_pre_mask, (0, P - u_pre_mask.shape[1]))]
    )
    return tokens, mask, pre, pre_mask


def _all_valid(t: Tensor) -> Tensor:
    """(B, T) all-True mask for a (B, T, ...) tensor."""
    return torch.ones(t.shape[:2], dtype=torch.bool, device=t.device)


def _generate_speculative(
    model,
    prompt,
    prompt_mask,
    prefix,
    prefix_mask,
    max_new_tokens,
    sampling,
    stop_tokens,
    constraints,
    pad_id,
    generator,
    draft,
) -> GenerationOutput:
    """Self-speculative decoding, one row at a time (rows accept different numbers of tokens)."""
    B, device = prompt.shape[0], prompt.device
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    valid = torch.ones(B, dtype=torch.bool)
    passes = 0
    for i in range(B):
        keep = prompt_mask[i] if prompt_mask is not None else slice(None)
        row_prefix = None if prefix is None else prefix[i : i + 1]
        row_mask = None if prefix_mask is None else prefix_mask[i : i + 1]
        result = draft.generate_row(
            model,
            prompt[i, keep],
            max_new_tokens=max_new_tokens,
            sampling=sampling,
            prefix=row_prefix,
            prefix_mask=row_mask,
            stop_tokens=stop_tokens,
            constraint=constraints[i],
            generator=generator,
        )
        n = len(result.tokens)
        out[i, :n] = torch.as_tensor(result.tokens, dtype=torch.long)
        lengths[i], done[i], valid[i] = n, result.finished, result.valid
        passes += result.forward_passes
    return GenerationOutput(out, lengths, done, valid, torch.zeros(B, dtype=torch.float64), passes)
