"""`generate()`: batched autoregressive decoding, written out as a numbered loop over small step functions.

    out = generate(model, prompt, max_new_tokens=256, sampling=SamplingConfig(temperature=0.8, top_p=0.95),
                   prefix=text_states, guidance=Guidance(3.0), stop_tokens=[eos],
                   constraints=[grammar.constraint() for _ in range(B)], seed=0)
    out.sequences()   # list of token lists, stop token included

Steps: 1. the model's rows (the prompts, plus the unconditional branch under guidance); 2. prefill;
then per new token 3. scores from the logits (guidance), 4. a token per row under the constraints
(the chooser: `MaskedChooser`, or AWRS's), 5. emit it and finish rows that hit a stop token or
completed their constraint (`DecodeRows.emit`), 6. one decode step through the KV cache. Finished
rows emit `pad_id`; with `drop_finished` they also leave the cache and the forward passes (the sampled
tokens stay the same: the chooser still sees every row, finished ones as a certain `pad_id`).

The same steps serve the other entry points: `awrs.generate_awrs` (rejection sampling with
importance weights) and `speculative.generate_speculative` (Token Recycling). The KV cache comes from
`cache_policy` (`FullCache`, or `Keyformer` to bound it), so this loop knows no cache policy.

The model is anything with `new_cache(batch_size, max_len)` and
`__call__(tokens, *, prefix, prefix_mask, cache, attention_mask, logits_to_keep) -> logits (B, T, V)`:
`Transformer` and `language.CausalLM` both qualify.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from gfx.backbones.constraints import Constraint
from gfx.backbones.guidance import NO_GUIDANCE, Guidance
from gfx.backbones.kv_cache import FULL_CACHE
from gfx.backbones.masking import MaskedChooser
from gfx.backbones.sampling import SamplingConfig, make_generator

log = logging.getLogger(__name__)

TokenChooser = Callable[..., tuple[Tensor, Tensor, Tensor]]
"""Step 4: (scores (B, V), sampling, constraints, generator, seen) -> (tokens (B,) long, dead (B,) bool,
log_weights (B,) float64); see `masking.MaskedChooser`."""


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


def per_row(constraints: Sequence[Constraint | None] | None, batch_size: int) -> list[Constraint | None]:
    """One constraint (or None) per row; ValueError when the count is wrong."""
    constraints = list(constraints) if constraints is not None else [None] * batch_size
    if len(constraints) != batch_size:
        raise ValueError(f"got {len(constraints)} constraints for {batch_size} rows")
    return constraints


@dataclass(frozen=True)
class ModelInputs:
    """What the model sees in a prefill.

    Attributes:
        tokens: (R, T) long; mask: (R, T) bool, False on left padding, or None.
        prefix: (R, P, prefix_dim) conditioning vectors or None; prefix_mask: (R, P) bool or None.
    """

    tokens: Tensor
    mask: Tensor | None = None
    prefix: Tensor | None = None
    prefix_mask: Tensor | None = None

    @property
    def positions(self) -> int:
        """Cache slots the prefill fills: prefix plus prompt."""
        return (0 if self.prefix is None else self.prefix.shape[1]) + self.tokens.shape[1]

    def extended(self, tokens: Tensor) -> ModelInputs:
        """The same inputs with tokens (R, 1) appended (for decoding without a cache)."""
        mask = None if self.mask is None else torch.cat([self.mask, torch.ones_like(tokens, dtype=torch.bool)], 1)
        return ModelInputs(torch.cat([self.tokens, tokens], 1), mask, self.prefix, self.prefix_mask)


def prefill(model, inputs: ModelInputs, cache=None) -> Tensor:
    """Step 2: one forward pass over prefix and prompt; the cache (if any) holds them after it.

    Returns:
        (R, V) next-token logits of the last position.
    """
    return model(
        inputs.tokens,
        prefix=inputs.prefix,
        prefix_mask=inputs.prefix_mask,
        cache=cache,
        attention_mask=inputs.mask,
        logits_to_keep=1,
    )[:, 0]


def drop_rows(cache, live: Tensor, done: Tensor, branches: int) -> Tensor:
    """Remove the model rows of finished output rows from `cache`.

    Args:
        live: (R,) long output rows whose model rows the cache holds, branch-major (`Guidance.rows`).
        done: (B,) bool finished output rows.
        branches: model rows per output row.

    Returns:
        (R',) long the output rows still live.
    """
    keep = (~done[live]).nonzero().flatten()
    if len(keep) < len(live):
        cache.reorder(torch.cat([keep + b * len(live) for b in range(branches)]))
    return live[keep]


def with_dropped_rows(scores: Tensor, live: Tensor, batch_size: int, pad_id: int) -> Tensor:
    """Scores (R, V) of the live rows -> (B, V), the dropped rows certain to choose `pad_id`."""
    full = scores.new_full((batch_size, scores.shape[-1]), float("-inf"))
    full[:, pad_id] = 0.0
    return full.index_copy_(0, live, scores)


def decode_step(model, tokens: Tensor, cache) -> Tensor:
    """Step 6: tokens (R, 1) long through the cache, which grows by one slot -> (R, V) next-token logits."""
    return model(tokens, prefix=None, prefix_mask=None, cache=cache, attention_mask=None, logits_to_keep=1)[:, 0]


class DecodeRows:
    """The output rows of a batched decode: tokens so far, lengths, finished and valid flags, weights.

    Args:
        prompt: (B, T) long; prompt_mask: (B, T) bool or None (seeds `seen`).
        max_new_tokens: width of the token buffer.
        constraints: one per row, or None.
        stop_tokens: ids that finish a row; pad_id: what finished rows emit.
        vocab_size: for `seen`, given only under a repetition penalty.
    """

    def __init__(
        self,
        prompt: Tensor,
        prompt_mask: Tensor | None,
        max_new_tokens: int,
        constraints: list[Constraint | None],
        stop_tokens: Sequence[int],
        pad_id: int,
        vocab_size: int | None = None,
    ):
        B, device = prompt.shape[0], prompt.device
        self.constraints, self.pad_id = constraints, pad_id
        self.stop = torch.as_tensor(list(stop_tokens), dtype=torch.long, device=device)
        self.tokens = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
        self.lengths = torch.zeros(B, dtype=torch.long, device=device)
        self.done = torch.zeros(B, dtype=torch.bool, device=device)
        self.valid = torch.ones(B, dtype=torch.bool)
        self.log_weights = torch.zeros(B, dtype=torch.float64)
        self.seen = None  # (B, V) bool tokens in the sequence so far, for the repetition penalty
        if vocab_size is not None:
            present = prompt_mask.long() if prompt_mask is not None else torch.ones_like(prompt)
            counts = torch.zeros(B, vocab_size, dtype=torch.long, device=device)
            self.seen = counts.scatter_add_(1, prompt, present) > 0

    @property
    def all_done(self) -> bool:
        return bool(self.done.all())

    def live_constraints(self) -> list[Constraint | None]:
        """Each row's constraint, None where it has none or has finished."""
        finished = self.done.tolist()
        return [None if finished[i] else c for i, c in enumerate(self.constraints)]

    def add_weights(self, log_weights: Tensor, dead: Tensor) -> None:
        """Add a step's importance log-weights (B,) and end the dead rows (B,) bool: invalid, weight -inf."""
        self.log_weights += log_weights
        if dead.any():
            log.warning("constraint dead end in rows %s: no allowed token", dead.nonzero().flatten().tolist())
            self.done |= dead
            self.valid[dead.cpu()] = False
            self.log_weights[dead.cpu()] = float("-inf")

    def emit(self, step: int, token: Tensor) -> Tensor:
        """Step 5: write token (B,) long at `step` (pad in finished rows), advance the constraints, and
        finish the rows that emitted a stop token or completed their constraint. Returns what was written."""
        token = token.masked_fill(self.done, self.pad_id)
        self.tokens[:, step] = token
        self.lengths += (~self.done).long()
        live = (~self.done).nonzero().flatten()
        if self.seen is not None:
            self.seen[live, token[live]] = True
        chosen = token.tolist()
        for i in live.tolist():
            constraint = self.constraints[i]
            if constraint is not None and advance(constraint, chosen[i], i):
                self.done[i] = True
        self.done |= torch.isin(token, self.stop)
        return token

    def output(self, forward_passes: int) -> GenerationOutput:
        return GenerationOutput(self.tokens, self.lengths, self.done, self.valid, self.log_weights, forward_passes)


def advance(constraint: Constraint, token: int, row: int = 0) -> bool:
    """Feed a chosen token to a row's constraint; True when the constraint is complete after it."""
    if not constraint.advance(token):
        raise RuntimeError(f"constraint of row {row} refused token {token} that it allowed")
    return constraint.is_done()


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
    guidance: Guidance = NO_GUIDANCE,
    stop_tokens: Sequence[int] = (),
    constraints: Sequence[Constraint | None] | None = None,
    pad_id: int = 0,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    cache_policy=FULL_CACHE,
    chooser: TokenChooser | None = None,
    drop_finished: bool = False,
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
        guidance: classifier-free guidance (`Guidance(scale, ...)`); default none.
        stop_tokens: ids that finish a row (emitted, then padding).
        constraints: one `Constraint` (or None) per row, applied every step.
        pad_id: the id written after a row finished.
        seed: seeds a private generator for reproducible sampling; or pass `generator`.
        use_cache: False recomputes the whole sequence every step (a reference for tests/benches).
        cache_policy: makes the KV cache (`new_cache(model, batch_size, max_len)`): `FullCache` keeps
            every slot; `Keyformer(...)` bounds it.
        chooser: step 4; default a fresh `MaskedChooser` (one instance per call).
        drop_finished: remove finished rows from the KV cache and the later forward passes (faster when
            row lengths differ). Only for a `KVCache` and a model whose rows hold no other state.

    Returns:
        A `GenerationOutput`.
    """
    sampling = sampling or SamplingConfig()
    chooser = chooser or MaskedChooser()
    generator = generator or make_generator(seed, prompt.device)
    vocab_size = model.config.vocab_size if sampling.repetition_penalty != 1.0 else None
    rows = DecodeRows(prompt, prompt_mask, max_new_tokens, per_row(constraints, len(prompt)), stop_tokens, pad_id,
                      vocab_size)
    # 1. the model's rows: the prompts, plus the unconditional branch under guidance
    inputs = ModelInputs(*guidance.rows(prompt, prompt_mask, prefix, prefix_mask, pad_id))
    # 2. prefill the cache with prefix and prompt
    cache = None
    if use_cache:
        cache = cache_policy.new_cache(model, len(inputs.tokens), inputs.positions + max_new_tokens)
    logits = prefill(model, inputs, cache)
    passes = 1
    live = torch.arange(len(prompt), device=prompt.device)  # output rows in the cache
    for step in range(max_new_tokens):
        # 3. scores of the output rows (guidance combines the two branches); dropped rows: a certain pad
        scores = guidance.scores(logits)
        if len(live) < len(prompt):
            scores = with_dropped_rows(scores, live, len(prompt), pad_id)
        # 4. a token per row among those its constraint allows
        token, dead, log_weights = chooser(scores, sampling, rows.live_constraints(), generator, rows.seen)
        rows.add_weights(log_weights, dead)
        # 5. emit it; rows finish at stop tokens and completed constraints
        token = rows.emit(step, token)
        if rows.all_done or step == max_new_tokens - 1:
            break
        # 6. feed it back (finished rows feed token 0, any valid id; both branches get the same token)
        next_tokens = token.masked_fill(rows.done, 0)
        if cache is None:
            inputs = inputs.extended(next_tokens[:, None].repeat(guidance.branches, 1))
            logits = prefill(model, inputs)
        else:
            if drop_finished:
                live = drop_rows(cache, live, rows.done, guidance.branches)
            logits = decode_step(model, next_tokens[live][:, None].repeat(guidance.branches, 1), cache)
        passes += 1
    return rows.output(passes)
