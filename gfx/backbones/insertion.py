"""Insertion language model (ILM; Patel et al. 2025, arXiv 2505.05755) on a plain `Transformer`.

The model reads the current sequence in both directions and scores every (slot, token) pair: slot i is the gap
right after token i, and the logits at position i score each token inserted there. One more outcome, stop, is the
logit of `stop_id` at slot 0 (an id that is never inserted, e.g. `<eom>`). All pairs of the allowed slots and stop
share one softmax, so where to insert, what, and whether to stop are one choice. Sampling inserts one token per
pass until it draws stop: the length of an infill is the model's to choose, unlike FIM-free masked infilling.

Training (the paper's denoising objective): drop a random subset of the tokens; the target is the multiset of
dropped tokens per kept slot (each goes to the slot of the nearest kept token on its left), normalised to a
distribution over (slot, token) pairs; with nothing dropped, the target is stop.

    loss = insertion_loss(model, tokens, dropped, stop_id=EOM_ID, valid=valid)      # (B, T), (B, T) bool
    tokens, passes = insert(model, context, slots=(k, k), stop_id=EOM_ID, generator=g)  # fill the gap after k
"""

from __future__ import annotations

import torch
from torch import Tensor


def insertion_logits(model, tokens: Tensor, valid: Tensor | None = None) -> Tensor:
    """Scores of inserting each token after each position: (B, T) long, (B, T) bool -> (B, T, V), bidirectional."""
    T = tokens.shape[1]
    valid = torch.ones_like(tokens, dtype=torch.bool) if valid is None else valid
    mask = valid[:, None, :] | torch.eye(T, dtype=torch.bool, device=tokens.device)  # (B, T, T) padding unseen
    return model(tokens, attention_mask=valid, attn_mask=mask)


def joint_log_probs(logits: Tensor, allowed: Tensor, stop_id: int) -> Tensor:
    """Log-probabilities of every (slot, token) outcome, stop at (0, stop_id): (B, T, V) logits, (B, T) bool
    allowed slots -> (B, T * V) float, -inf where a slot is not allowed and on (slot, stop_id) for slots > 0."""
    scores = logits.float().masked_fill(~allowed[..., None], float("-inf"))
    scores[:, :, stop_id] = float("-inf")
    scores[:, 0, stop_id] = logits[:, 0, stop_id].float()
    return scores.flatten(1).log_softmax(-1)


def kept_rows(tokens: Tensor, dropped: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """What the model reads once `dropped` tokens are gone, and where each token of the rows belongs.

    Args:
        tokens: (B, T) long; dropped: (B, T) bool, never the first token of a row; valid: (B, T) bool.

    Returns:
        kept: (B, K) long, the kept tokens left-aligned, padded with 0; kept_valid: (B, K) bool;
        slot: (B, T) long, per token the slot of its nearest kept token on the left (itself when kept).
    """
    if bool((dropped[:, 0] & valid[:, 0]).any()):
        raise ValueError("the first token of a row anchors slot 0 and cannot be dropped")
    keep = valid & ~dropped
    K = int(keep.sum(1).max())
    order = torch.argsort((~keep).long(), dim=1, stable=True)[:, :K]  # kept positions first, in order
    kept_valid = keep.gather(1, order)
    return tokens.gather(1, order).masked_fill(~kept_valid, 0), kept_valid, torch.cumsum(keep.long(), 1) - 1


def insertion_loss(model, tokens: Tensor, dropped: Tensor, stop_id: int, valid: Tensor | None = None) -> Tensor:
    """Mean over rows of the cross-entropy between the dropped multiset (or stop) and the joint softmax.

    Args:
        tokens: (B, T) long full rows; dropped: (B, T) bool, the tokens the model must insert back (never the
            first token); valid: (B, T) bool, False on padding.
    """
    valid = torch.ones_like(dropped) if valid is None else valid
    dropped = dropped & valid
    kept, kept_valid, slot = kept_rows(tokens, dropped, valid)
    logits = insertion_logits(model, kept, kept_valid)  # (B, K, V)
    B, K, V = logits.shape
    target = torch.zeros(B, K * V, device=tokens.device)
    rows, positions = dropped.nonzero(as_tuple=True)
    outcome = slot[rows, positions] * V + tokens[rows, positions]
    target.index_put_((rows, outcome), torch.ones_like(outcome, dtype=target.dtype), accumulate=True)
    target[target.sum(1) == 0, stop_id] = 1.0  # nothing dropped: (slot 0, stop_id)
    target = target / target.sum(1, keepdim=True)
    logp = joint_log_probs(logits, kept_valid, stop_id).clamp(min=-1e4)  # -inf outcomes have no target mass
    return -(target * logp).sum(1).mean()


@torch.no_grad()
def insert(
    model,
    tokens: Tensor,
    slots: tuple[int, int],
    stop_id: int,
    generator: torch.Generator | None = None,
    max_new_tokens: int = 128,
    temperature: float = 1.0,
) -> tuple[Tensor, int]:
    """Insert tokens into the slots `slots[0]..slots[1]` of one sequence, one per pass, until stop.

    The range grows with each insertion (a token inserted into it adds a slot to it), so `slots=(k, k)` fills the
    gap after token k with a span of any length, and `(0, T - 2)` may insert anywhere before the last token.

    Args:
        tokens: (T,) long.

    Returns:
        ((T + n,) long with the n inserted tokens, forward passes = n + 1, or n when `max_new_tokens` or the
        model's `max_seq_len` ran out).
    """
    lo, hi = slots
    if not 0 <= lo <= hi < len(tokens):
        raise ValueError(f"slots {slots} must satisfy 0 <= lo <= hi < {len(tokens)} (the sequence length)")
    passes = 0
    for _ in range(min(max_new_tokens, model.config.max_seq_len - len(tokens))):
        logits = insertion_logits(model, tokens[None])  # (1, T, V)
        passes += 1
        allowed = torch.zeros(1, len(tokens), dtype=torch.bool)
        allowed[0, lo : hi + 1] = True
        probs = (joint_log_probs(logits / temperature, allowed, stop_id)[0].double()).exp()
        choice = int(torch.multinomial(probs, 1, generator=generator))
        slot, token = divmod(choice, logits.shape[-1])
        if (slot, token) == (0, stop_id):
            break
        tokens = torch.cat([tokens[: slot + 1], tokens.new_tensor([token]), tokens[slot + 1 :]])
        hi += 1
    return tokens, passes
