"""Constraints on generated sequences, one object per sequence, applied at every decoding step.

The `Constraint` protocol is what `generate()` and the speculative/AWRS samplers talk to. Masks use
XGrammar's layout: int32 words, bit j of word w allows token 32 * w + j. Two implementations:

- `Grammar(vocab, ebnf, ...)`: an EBNF grammar compiled by xgrammar over our own vocabulary
  (`VocabType.RAW`); `grammar.constraint()` gives a fresh `GrammarConstraint` per sequence.
- `AutomatonConstraint`: a hand-written automaton (`allowed(state)`, `step(state, token)`), for
  constraints that are not grammar-shaped (counts, budgets) and as an oracle in tests.

`BanningConstraint` adds bans that depend on the whole sequence so far (e.g. no zero-length path
segment, `PathTokenizer.zero_length_segment`) on top of either.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from gfx.runtime import optional_import


@runtime_checkable
class Constraint(Protocol):
    """The state of one sequence under a constraint."""

    def fill_mask(self, bitmask: Tensor, row: int) -> None:
        """Write the allowed next tokens into `bitmask[row]`: (B, ceil(V / 32)) int32 on the CPU."""

    def accepts(self, token: int) -> bool:
        """Whether `token` may come next (the state does not change)."""

    def advance(self, token: int) -> bool:
        """Consume `token`; False (and no state change) when it is not allowed."""

    def rollback(self, n: int) -> None:
        """Undo the last `n` advances."""

    def fork(self) -> Constraint:
        """An independent copy of the current state."""

    def is_done(self) -> bool:
        """True when the sequence is complete and nothing more may follow (e.g. after EOS)."""


def bitmask_words(vocab_size: int) -> int:
    """int32 words per row of a token bitmask."""
    return (vocab_size + 31) // 32


def new_bitmask(batch_size: int, vocab_size: int) -> Tensor:
    """(B, ceil(V / 32)) int32 bitmask with every token allowed."""
    return torch.full((batch_size, bitmask_words(vocab_size)), -1, dtype=torch.int32)


def pack_tokens(tokens: Iterable[int], vocab_size: int) -> Tensor:
    """The bitmask row allowing exactly `tokens`: (ceil(V / 32),) int32."""
    bits = torch.zeros(bitmask_words(vocab_size) * 32, dtype=torch.int64)
    index = torch.as_tensor(list(tokens), dtype=torch.long)
    if index.numel():
        bits[index] = 1
    words = (bits.view(-1, 32) << torch.arange(32)).sum(-1)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def unpack_bitmask(bitmask: Tensor, vocab_size: int) -> Tensor:
    """(B, W) int32 bitmask -> (B, vocab_size) bool allowed tokens (on the bitmask's device)."""
    shifts = torch.arange(32, device=bitmask.device, dtype=torch.int32)
    bits = (bitmask.unsqueeze(-1) >> shifts) & 1  # (B, W, 32)
    return bits.flatten(1)[:, :vocab_size].bool()


def any_allowed(bitmask: Tensor, vocab_size: int) -> Tensor:
    """(B, W) int32 bitmask -> (B,) bool, True where some token below `vocab_size` is allowed."""
    full, rest = divmod(vocab_size, 32)
    alive = bitmask[:, :full].ne(0).any(-1)
    if rest:
        alive |= (bitmask[:, full] & ((1 << rest) - 1)).ne(0)
    return alive


def clear_tokens(bitmask: Tensor, row: int, tokens: Iterable[int]) -> None:
    """Disallow `tokens` in `bitmask[row]` (in place)."""
    tokens = list(tokens)
    if tokens:
        bitmask[row] &= ~pack_tokens(tokens, bitmask.shape[1] * 32)


def apply_bitmask(logits: Tensor, bitmask: Tensor) -> Tensor:
    """Set disallowed logits to -inf: logits (B, V), bitmask (B, W) int32 -> new (B, V) tensor."""
    allowed = unpack_bitmask(bitmask.to(logits.device, non_blocking=True), logits.shape[-1])
    return logits.masked_fill(~allowed, float("-inf"))


class AutomatonConstraint:
    """A constraint given by a deterministic automaton over token ids.

    Args:
        start: the initial state (any hashable value).
        allowed: state -> the tokens allowed next (include the stop token where the sequence may end).
        step: (state, token) -> next state; called only with allowed tokens.
        vocab_size: the model's vocabulary size (mask width).
        final: state -> True when nothing may follow (checked after each advance); default never.

    Masks are cached per state, so an automaton with few states costs one dict lookup per step.
    """

    def __init__(
        self,
        start: Hashable,
        allowed: Callable[[Hashable], Iterable[int]],
        step: Callable[[Hashable, int], Hashable],
        vocab_size: int,
        final: Callable[[Hashable], bool] | None = None,
        _cache: dict | None = None,
    ):
        self._allowed, self._step, self._final = allowed, step, final or (lambda state: False)
        self.vocab_size = vocab_size
        self.states = [start]
        self._cache = {} if _cache is None else _cache  # state -> (frozenset, packed row), shared by forks

    @property
    def state(self) -> Hashable:
        return self.states[-1]

    def _entry(self, state: Hashable) -> tuple[frozenset, Tensor]:
        entry = self._cache.get(state)
        if entry is None:
            tokens = frozenset(int(t) for t in self._allowed(state))
            entry = self._cache[state] = (tokens, pack_tokens(tokens, self.vocab_size))
        return entry

    def fill_mask(self, bitmask: Tensor, row: int) -> None:
        bitmask[row] = self._entry(self.state)[1]

    def accepts(self, token: int) -> bool:
        return token in self._entry(self.state)[0]

    def advance(self, token: int) -> bool:
        if not self.accepts(token):
            return False
        self.states.append(self._step(self.state, token))
        return True

    def rollback(self, n: int) -> None:
        if n > len(self.states) - 1:
            raise ValueError(f"cannot roll back {n} tokens; only {len(self.states) - 1} were consumed")
        if n:
            del self.states[-n:]

    def fork(self) -> AutomatonConstraint:
        new = AutomatonConstraint(
            self.state, self._allowed, self._step, self.vocab_size, self._final, self._cache
        )
        new.states = list(self.states)
        return new

    def is_done(self) -> bool:
        return self._final(self.state)


class Grammar:
    """An EBNF grammar compiled with xgrammar over a plain list of token strings.

    Args:
        vocab: token strings by id; the grammar matches their concatenation, so tokens must be
            unambiguous when concatenated (use delimiters like `<coord_17>`).
        ebnf: the grammar, root rule `root`.
        stop_ids: ids that end a sequence (accepted only where the grammar may end).
        vocab_size: the model's logits width when larger than len(vocab) (padded heads).
        max_rollback: how many tokens a constraint can roll back; -1: unlimited.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        ebnf: str,
        stop_ids: Sequence[int],
        *,
        vocab_size: int | None = None,
        max_rollback: int = -1,
    ):
        self._xgr = optional_import("xgrammar")
        self.vocab_size = vocab_size or len(vocab)
        info = self._xgr.TokenizerInfo(
            list(vocab), self._xgr.VocabType.RAW, vocab_size=self.vocab_size, stop_token_ids=list(stop_ids)
        )
        self.compiled = self._xgr.GrammarCompiler(info, max_threads=1).compile_grammar(ebnf)
        self.max_rollback = max_rollback

    def constraint(self) -> GrammarConstraint:
        """A fresh constraint at the start of the grammar."""
        matcher = self._xgr.GrammarMatcher(self.compiled, max_rollback_tokens=self.max_rollback)
        return GrammarConstraint(matcher, self.vocab_size)


def added_token_vocab(strings: Sequence[str], token_ids: Sequence[int], vocab_size: int) -> list[str]:
    """A `Grammar` vocabulary for tokens added to a larger model: `strings[k]` at model id `token_ids[k]`, and
    `#i#` at every other id, which no grammar of delimited tokens can spell (the model's own text tokens).

    Args:
        strings: the added tokens' grammar strings (e.g. a tokenizer's `vocab`).
        token_ids: (K,) their ids in the model.
        vocab_size: the model's logits width.
    """
    if len(strings) != len(token_ids):
        raise ValueError(f"got {len(strings)} token strings for {len(token_ids)} model ids")
    vocab = [f"#{i}#" for i in range(vocab_size)]
    for string, model_id in zip(strings, token_ids, strict=True):
        vocab[model_id] = string
    return vocab


class GrammarConstraint:
    """One sequence's state under a compiled xgrammar grammar (see `Grammar.constraint`)."""

    def __init__(self, matcher, vocab_size: int):
        self.matcher = matcher
        self.vocab_size = vocab_size

    def fill_mask(self, bitmask: Tensor, row: int) -> None:
        self.matcher.fill_next_token_bitmask(bitmask, row)

    def accepts(self, token: int) -> bool:
        if self.matcher.is_terminated() or not self.matcher.accept_token(token):
            return False
        self.matcher.rollback(1)
        return True

    def advance(self, token: int) -> bool:
        return not self.matcher.is_terminated() and self.matcher.accept_token(token)

    def rollback(self, n: int) -> None:
        if n:
            self.matcher.rollback(n)

    def fork(self) -> GrammarConstraint:
        return GrammarConstraint(self.matcher.fork(), self.vocab_size)

    def is_done(self) -> bool:
        return self.matcher.is_terminated()


class BanningConstraint:
    """`inner` with extra bans computed from the tokens consumed so far.

    Args:
        inner: the constraint that decides the language (a `GrammarConstraint`, ...).
        banned: history -> token ids that may not come next, for rules a grammar cannot state.
        history: tokens `inner` already consumed that the bans should see (e.g. a replayed prompt,
            which is not itself checked against the bans).
    """

    def __init__(
        self, inner: Constraint, banned: Callable[[Sequence[int]], Iterable[int]], history: Sequence[int] = ()
    ):
        self.inner, self.banned, self.history = inner, banned, list(history)
        self._cache: tuple[int, frozenset] | None = None  # (history length, bans) of the last query

    def _bans(self) -> frozenset:
        if self._cache is None or self._cache[0] != len(self.history):
            self._cache = (len(self.history), frozenset(self.banned(self.history)))
        return self._cache[1]

    def fill_mask(self, bitmask: Tensor, row: int) -> None:
        self.inner.fill_mask(bitmask, row)
        clear_tokens(bitmask, row, self._bans())

    def accepts(self, token: int) -> bool:
        return token not in self._bans() and self.inner.accepts(token)

    def advance(self, token: int) -> bool:
        if token in self._bans() or not self.inner.advance(token):
            return False
        self.history.append(int(token))
        return True

    def rollback(self, n: int) -> None:
        self.inner.rollback(n)
        if n:
            del self.history[-n:]
        self._cache = None

    def fork(self) -> BanningConstraint:
        return BanningConstraint(self.inner.fork(), self.banned, self.history)

    def is_done(self) -> bool:
        return self.inner.is_done()
