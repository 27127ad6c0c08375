"""Any-subset autoregressive modelling (AS-ARM) and any-subset speculative decoding (ASSD), after Guo and Ermon
2025 (arXiv 2504.20456), on a plain `Transformer`.

An AS-ARM predicts any subset of positions given any other subset: the masked positions, taken in an order, each
conditioned on the known tokens and on the masked ones before it. gfx orders the masked positions left to right.
One forward pass of L + Q slots, as XLNet's two streams in a single sequence:

- content slots 0..L-1 hold the tokens, each with a *content rank*: 0 for a known token, r for the r-th drafted
  or training token, `UNKNOWN` for a slot nobody may read. A content slot attends to content slots of rank <= its
  own (the known tokens see each other in both directions);
- query slots hold `mask_id` at the RoPE position of the token they predict, with a *query rank* q: a query
  attends to the content slots of rank < q, and to itself. It never sees its own token.

So one pass gives every chain-rule factor of a subset's joint density (`log_prob`), and training is one pass
(`any_subset_loss`). Sampling one token per pass is `sample_in_order`. `sample_assd` drafts the next `draft`
masked tokens in parallel, each from its conditional given the known tokens alone, then scores them with their
true chain-rule conditionals in one pass and keeps them by the speculative acceptance rule
(`speculative_accept`). Its samples follow the joint distribution of `sample_in_order` exactly, and it makes at
most one pass more than the tokens it fills: the first draft is always accepted (its draft and target
distributions coincide), and a pass that accepts every draft also yields the next drafts.

    loss = any_subset_loss(model, tokens, masked, mask_id=MASK_ID)          # (B, L) long, (B, L) bool
    filled, passes = sample_assd(model, tokens, masked, mask_id=MASK_ID, draft=8, generator=g)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

UNKNOWN = 1 << 20
"""Content rank of a slot no query may read (a token not filled yet, padding)."""


def ranks_in_order(masked: Tensor) -> Tensor:
    """Content ranks that take the masked positions left to right: (B, L) bool -> (B, L) long, 0 where known."""
    return torch.cumsum(masked.long(), dim=1) * masked


def any_subset_logits(
    model, tokens: Tensor, content_rank: Tensor, query_positions: Tensor, query_rank: Tensor, mask_id: int
) -> Tensor:
    """Logits of the tokens at `query_positions`, each given the content slots of rank below its query rank.

    Args:
        model: a `Transformer` (bidirectional use; no cache).
        tokens: (B, L) long content tokens; slots of rank `UNKNOWN` may hold anything.
        content_rank: (B, L) long, 0 = known, r = r-th in order, `UNKNOWN` = unread.
        query_positions: (B, Q) long positions 0..L-1 to predict.
        query_rank: (B, Q) long; a query reads the content slots of rank < its rank.
        mask_id: the token id every query slot holds.

    Returns:
        (B, Q, V) logits.
    """
    B, L = tokens.shape
    Q = query_positions.shape[1]
    slots = torch.cat([tokens, torch.full_like(query_positions, mask_id)], dim=1)  # (B, L + Q)
    positions = torch.cat([torch.arange(L, device=tokens.device).expand(B, L), query_positions], dim=1)
    content = content_rank[:, None, :]  # (B, 1, L)
    content_sees = content <= content_rank[:, :, None]  # (B, L, L)
    query_sees = content < query_rank[:, :, None]  # (B, Q, L)
    mask = torch.cat([
        torch.cat([content_sees, torch.zeros(B, L, Q, dtype=torch.bool, device=tokens.device)], dim=2),
        torch.cat([query_sees, torch.eye(Q, dtype=torch.bool, device=tokens.device).expand(B, Q, Q)], dim=2),
    ], dim=1)  # (B, L + Q, L + Q)
    return model(slots, position_ids=positions, attn_mask=mask)[:, L:]


def any_subset_loss(model, tokens: Tensor, masked: Tensor, mask_id: int, valid: Tensor | None = None) -> Tensor:
    """Mean cross-entropy of the masked tokens given the rest, left to right among them (one pass of 2L slots).

    Args:
        tokens: (B, L) long; masked: (B, L) bool, the positions to predict; valid: (B, L) bool, False on padding.
    """
    valid = torch.ones_like(masked) if valid is None else valid
    masked = masked & valid
    rank = ranks_in_order(masked).masked_fill(~valid, UNKNOWN)
    positions = torch.arange(tokens.shape[1], device=tokens.device).expand_as(tokens)
    logits = any_subset_logits(model, tokens, rank, positions, rank.masked_fill(~masked, 0), mask_id)
    return F.cross_entropy(logits[masked].float(), tokens[masked])


def masked_order(masked: Tensor) -> Tensor:
    """The masked positions of each row, left to right: (B, L) bool with M per row -> (B, M) long."""
    counts = masked.sum(1)
    if not bool((counts == counts[0]).all()):
        raise ValueError(f"every row must mask the same number of positions; got {counts.tolist()}")
    return masked.nonzero()[:, 1].view(len(masked), -1)


def chain_logits(
    model, tokens: Tensor, masked: Tensor, filled: Tensor, mask_id: int, slots: Tensor | None = None
) -> Tensor:
    """Chain-rule conditionals of the masked positions when the first `filled` of them (in order) are known.

    The m-th masked position (0-based) is predicted from the known tokens and the masked ones before it, up to
    the first `filled`: query rank min(m, filled) + 1. So slot m < filled + 1 gets its exact chain-rule factor,
    and every later slot the conditional given what is filled (the proposal of a draft).

    Args:
        tokens: (B, L) long; masked: (B, L) bool, M per row; filled: (B,) long, 0..M.
        slots: (B, Q) long indices 0..M-1 into each row's masked positions to predict; default all M.

    Returns:
        (B, Q, V) logits.
    """
    order = masked_order(masked)
    rank = ranks_in_order(masked)
    rank = rank.masked_fill(rank > filled[:, None], UNKNOWN)
    slots = torch.arange(order.shape[1], device=tokens.device).expand_as(order) if slots is None else slots
    query = torch.minimum(slots, filled[:, None]) + 1
    return any_subset_logits(model, tokens, rank, order.gather(1, slots), query, mask_id)


@torch.no_grad()
def log_prob(model, tokens: Tensor, masked: Tensor, mask_id: int) -> Tensor:
    """Joint log-density of the masked tokens given the rest, in one pass: (B, L), (B, L) bool -> (B,) float."""
    logits = chain_logits(model, tokens, masked, masked.sum(1), mask_id)
    targets = tokens.gather(1, masked_order(masked))
    return logits.float().log_softmax(-1).gather(2, targets[..., None])[..., 0].sum(1)


def probs_of(logits: Tensor, temperature: float) -> Tensor:
    """Float64 sampling probabilities: (..., V) logits -> (..., V)."""
    return (logits.double() / temperature).softmax(-1)


@torch.no_grad()
def sample_in_order(
    model, tokens: Tensor, masked: Tensor, mask_id: int, generator: torch.Generator | None = None,
    temperature: float = 1.0,
) -> tuple[Tensor, int]:
    """Fill the masked positions left to right, one pass per token (the reference sampler).

    Args:
        tokens: (B, L) long, known where not `masked`; masked: (B, L) bool, the same count M per row.

    Returns:
        ((B, L) long filled tokens, forward passes = M).
    """
    tokens = tokens.clone()
    order = masked_order(masked)
    rows = torch.arange(len(tokens))
    for m in range(order.shape[1]):
        filled = torch.full((len(tokens),), m)
        logits = chain_logits(model, tokens, masked, filled, mask_id, slots=filled[:, None])[:, 0]
        chosen = torch.multinomial(probs_of(logits, temperature), 1, generator=generator)  # (B, 1)
        tokens[rows, order[:, m]] = chosen[:, 0]
    return tokens, order.shape[1]


AcceptRule = Callable[[Tensor, Tensor, Tensor, "torch.Generator | None"], tuple[int, "int | None"]]
"""(target (k, V), draft (k, V), drafts (k,) long, generator) -> (drafts kept, correction token or None)."""


def speculative_accept(
    target: Tensor, draft: Tensor, drafts: Tensor, generator: torch.Generator | None = None
) -> tuple[int, int | None]:
    """The speculative acceptance rule (Leviathan et al. 2023) for drafts drawn independently from `draft`.

    Draft j (from draft[j]) is kept with probability min(1, target[j, d] / draft[j, d]); at the first rejection the
    token is drawn from the residual max(target[j] - draft[j], 0), normalised, and the rest are dropped. Kept
    drafts plus the correction are distributed as the chain of `target` rows.

    Args:
        target, draft: (k, V) probabilities; row j of `target` is conditioned on drafts 0..j-1.
        drafts: (k,) long.

    Returns:
        (number of drafts kept, the correction token or None when every draft is kept).
    """
    for j, d in enumerate(drafts.tolist()):
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        if u * float(draft[j, d]) < float(target[j, d]):
            continue
        residual = (target[j] - draft[j]).clamp(min=0)
        if float(residual.sum()) <= 0:  # target == draft up to rounding: any draw from target is exact
            residual = target[j]
        return j, int(torch.multinomial(residual, 1, generator=generator))
    return len(drafts), None


@torch.no_grad()
def sample_assd(
    model, tokens: Tensor, masked: Tensor, mask_id: int, draft: int = 8, generator: torch.Generator | None = None,
    temperature: float = 1.0, accept: AcceptRule = speculative_accept,
) -> tuple[Tensor, int]:
    """Fill the masked positions by any-subset speculative decoding; same joint distribution as `sample_in_order`.

    Per round and row: (1) draft: one pass gives every unfilled position's conditional given the filled tokens
    alone (skipped when the last verify pass kept every draft: its trailing queries are these conditionals);
    (2) the next `draft` positions are drawn independently from them; (3) verify: one pass with the drafts as
    content of ranks 1..k gives each draft's conditional given the drafts before it; (4) `accept` keeps a prefix
    and draws a correction. Rows advance independently; a pass runs the rows that need it.

    Args:
        tokens: (B, L) long, known where not `masked`; masked: (B, L) bool, the same count M per row.
        draft: tokens drafted per round (1 makes it `sample_in_order` with an extra pass per token).
        accept: the acceptance rule (tests swap in a biased one to show that the distribution test catches it).

    Returns:
        ((B, L) long filled tokens, forward passes over the batch).
    """
    if draft < 1:
        raise ValueError(f"draft {draft} must be >= 1")
    tokens = tokens.clone()
    order = masked_order(masked)  # (B, M)
    B, M = order.shape
    filled = torch.zeros(B, dtype=torch.long)  # masked positions filled so far, per row
    proposal = torch.zeros(B, M, model.config.vocab_size, dtype=torch.float64)  # given the filled tokens
    fresh = torch.zeros(B, dtype=torch.bool)  # proposal is given the current filled tokens
    passes = 0
    while bool((filled < M).any()):
        rows = ((filled < M) & ~fresh).nonzero()[:, 0]
        if len(rows):  # 1. draft pass
            logits = chain_logits(model, tokens[rows], masked[rows], filled[rows], mask_id)
            proposal[rows], fresh[rows] = probs_of(logits, temperature), True
            passes += 1
        rows = (filled < M).nonzero()[:, 0]
        k = (M - filled[rows]).clamp(max=draft)  # (R,) drafts per row
        drafts = torch.multinomial(proposal[rows].flatten(0, 1), 1, generator=generator)  # 2. (R * M, 1)
        drafts = drafts.view(len(rows), M)
        relative = torch.arange(M) - filled[rows, None]  # (R, M) 0 at the first unfilled slot
        drafting = (relative >= 0) & (relative < k[:, None])
        current = tokens[rows].gather(1, order[rows])
        candidate = tokens[rows].scatter(1, order[rows], torch.where(drafting, drafts, current))
        logits = chain_logits(model, candidate, masked[rows], filled[rows] + k, mask_id)  # 3. verify pass
        target = probs_of(logits, temperature)
        passes += 1
        for i, row in enumerate(rows.tolist()):
            f, n = int(filled[row]), int(k[i])
            # 4. the first draft's target is its draft distribution: always kept; the rule judges the rest
            kept, correction = accept(target[i, f + 1 : f + n], proposal[row, f + 1 : f + n],
                                      drafts[i, f + 1 : f + n], generator)
            new = drafts[i, f : f + 1 + kept].tolist() + ([] if correction is None else [correction])
            tokens[row, order[row, f : f + len(new)]] = torch.tensor(new)
            filled[row] += len(new)
            fresh[row] = correction is None  # every draft kept: the trailing queries are the next proposal
            if correction is None:
                proposal[row] = target[i]
    return tokens, passes
