"""Token healing with exact next-byte probabilities, for byte-level BPE LMs (`language.CausalLM`).

A prompt that ends mid-word (`M1` of `M12`) tokenizes differently from the same text inside a longer
one, so the model's next-token distribution after it is biased: tokenization bias (Phan et al. 2024,
arXiv 2410.09303). Healing backs up the last `back` prompt tokens and lets the first generated tokens
spell the removed text again:

- `HealingConstraint` (a `Constraint`): only tokens whose bytes extend the removed text, or are a piece
  of it, until it is spelled; then anything. On its own this is plain token healing (transformers'
  `token_healing`): each step is renormalised alone, which is not exact once the text can be spelled
  by several tokens (`b` then `r...` as well as `br...`).
- `CoverTree`: every cover of the removed text (token paths whose bytes, all but the last, are pieces
  of it and whose last token reaches its end: the Byte-Token Representation Lemma) with its probability.
  With a tree, `HealingChooser` weights each allowed token by the probability that the text is then
  completed, so at temperature 1 (no top-k/p, no guidance) `generate` samples what follows the prompt *text*
  exactly from the model's distribution given it. `CoverTree.next_byte_probs` is that distribution's
  next byte; `back=0` gives the unhealed one.

    vocab = ByteVocab.from_tokenizer(lm.tokenizer, lm.config.vocab_size)
    out, kept = generate_healed(lm, [lm.tokenizer(text).input_ids], vocab, max_new_tokens=20, seed=0)
    text = vocab.spell(kept[0] + out.sequences()[0]).decode(errors="replace")

Exact given the kept tokens: the model may spell the kept text other ways too, which `back=None` (back
up everything after the first `keep` tokens) also sums over, at a cost that grows with the number of
ways to spell the prompt (`max_nodes`). Tokens that spell nothing (specials) end the text.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import torch
from torch import Tensor

from gfx.backbones.constraints import Constraint, pack_tokens
from gfx.backbones.decoding import GenerationOutput, ModelInputs, generate, left_pad, prefill
from gfx.backbones.masking import MaskedChooser
from gfx.runtime import optional_import


class ByteVocab:
    """The bytes each token id spells.

    Args:
        token_bytes: one per id, as many as the model has logits (b"" for specials and padded rows).
    """

    def __init__(self, token_bytes: Sequence[bytes]):
        self.bytes = [bytes(b) for b in token_bytes]
        self._ids: dict[bytes, list[int]] = {}
        for i, b in enumerate(self.bytes):
            if b:
                self._ids.setdefault(b, []).append(i)
        order = sorted((b, i) for i, b in enumerate(self.bytes) if b)
        self._sorted, self._sorted_ids = [b for b, _ in order], [i for _, i in order]
        self.first_byte = torch.tensor([b[0] if b else -1 for b in self.bytes])  # (V,) long, -1: no bytes

    @classmethod
    def from_tokenizer(cls, tokenizer, vocab_size: int | None = None) -> ByteVocab:
        """From a byte-level BPE tokenizer (GPT-2, Llama 3, Qwen; `tokenizers.ByteLevelBPETokenizer`),
        whose token strings write each byte as one printable character; special and added tokens get b"".

        Args:
            tokenizer: a transformers tokenizer.
            vocab_size: the model's logits width when it differs from `len(tokenizer)`.
        """
        convert = optional_import("transformers.convert_slow_tokenizer")
        byte_of = {c: b for b, c in convert.bytes_to_unicode().items()}
        special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
        out = [b""] * (vocab_size or len(tokenizer))
        for token, i in tokenizer.get_vocab().items():
            if i in special or i >= len(out):
                continue
            try:
                out[i] = bytes(byte_of[c] for c in token)
            except KeyError:
                raise ValueError(
                    f"token {token!r} (id {i}) is not byte-level BPE; build ByteVocab(token_bytes) yourself"
                ) from None
        return cls(out)

    def __len__(self) -> int:
        return len(self.bytes)

    def spell(self, ids: Sequence[int]) -> bytes:
        """The bytes of a token sequence."""
        return b"".join(self.bytes[int(t)] for t in ids)

    def pieces(self, text: bytes) -> list[int]:
        """Ids whose bytes are a non-empty proper prefix of `text`."""
        return [i for n in range(1, len(text)) for i in self._ids.get(text[:n], ())]

    def extending(self, text: bytes) -> list[int]:
        """Ids whose bytes start with `text` (`text` itself included)."""
        out, k = [], bisect.bisect_left(self._sorted, text)
        while k < len(self._sorted) and self._sorted[k].startswith(text):
            out.append(self._sorted_ids[k])
            k += 1
        return out


def back_up(
    prompt: Sequence[int], vocab: ByteVocab, back: int | None = 1, keep: int = 1
) -> tuple[list[int], bytes]:
    """Split a prompt into the tokens kept and the bytes of the last `back` tokens (every token after the
    first `keep`, e.g. BOS, when None; never those `keep`)."""
    prompt = [int(t) for t in prompt]
    cut = keep if back is None else max(keep, len(prompt) - back)
    return prompt[:cut], vocab.spell(prompt[cut:])


def next_log_probs(model, contexts: Sequence[Sequence[int]], batch_size: int = 64) -> list[Tensor]:
    """(V,) float64 next-token log-probabilities after each context (batched, left-padded)."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(contexts), batch_size):
        tokens, mask = left_pad(contexts[start : start + batch_size])
        with torch.no_grad():
            logits = prefill(model, ModelInputs(tokens.to(device), mask.to(device)))
        out += list(logits.double().log_softmax(-1).cpu())
    return out


def _logsumexp(x: Tensor) -> float:
    return float(torch.logsumexp(x, 0)) if x.numel() else float("-inf")


class CoverTree:
    """Every way `model` can spell `removed` after `kept`, with its probability.

    Nodes are token paths whose bytes are a proper prefix of `removed`; the root is the empty path.

    Attributes:
        logp: node -> (V,) float64 next-token log-probabilities after `kept + node`.
        twists: node -> (V,) float64 log-probability that the text is completed after each token:
            0 for tokens that reach the end of `removed`, the child's log reach for pieces, -inf else.
        reach: node -> log P(the text after `kept + node` starts with the rest of `removed`).
    """

    def __init__(
        self, model, kept: Sequence[int], removed: bytes, vocab: ByteVocab, *, max_nodes: int = 4096
    ):
        self.model, self.kept, self.removed, self.vocab = model, [int(t) for t in kept], bytes(removed), vocab
        self.spelled: dict[tuple[int, ...], int] = {}  # node -> bytes of `removed` it spells
        self.logp: dict[tuple[int, ...], Tensor] = {}
        frontier = {(): 0}
        while frontier:
            if len(self.spelled) + len(frontier) > max_nodes:
                raise ValueError(
                    f"{removed!r} has more than {max_nodes} partial spellings; back up fewer tokens (back)"
                )
            logps = next_log_probs(model, [self.kept + list(node) for node in frontier])
            if len(logps[0]) != len(vocab):
                raise ValueError(
                    f"the model has {len(logps[0])} logits but the ByteVocab {len(vocab)} tokens"
                )
            self.logp.update(zip(frontier, logps, strict=True))
            self.spelled.update(frontier)
            frontier = {
                node + (t,): n + len(vocab.bytes[t])
                for node, n in frontier.items()
                for t in vocab.pieces(self.rest(node))
            }
        self.twists: dict[tuple[int, ...], Tensor] = {}
        self.reach: dict[tuple[int, ...], float] = {}
        for node in sorted(self.spelled, key=len, reverse=True):  # children first
            twist = torch.full((len(vocab),), float("-inf"), dtype=torch.float64)
            twist[vocab.extending(self.rest(node))] = 0.0
            for t in vocab.pieces(self.rest(node)):
                twist[t] = self.reach[node + (t,)]
            self.twists[node], self.reach[node] = twist, _logsumexp(twist + self.logp[node])

    def rest(self, node: tuple[int, ...]) -> bytes:
        """The bytes of `removed` that `node` has not spelled yet."""
        return self.removed[self.spelled[node] :]

    def next_byte_probs(self, local: bool = False) -> Tensor:
        """(256,) float64: the distribution of the byte after the text of `kept` + `removed` (one more
        model call for the covers that end exactly at the text's end).

        Args:
            local: what plain masking (`HealingConstraint` without the tree) gives instead.
        """
        probs = torch.zeros(256, dtype=torch.float64)
        path = {(): 0.0}  # node -> log-probability of sampling its tokens
        ends: list[tuple[tuple[int, ...], float]] = []  # covers ending at the text's end, log-probability
        for node in sorted(self.spelled, key=len):  # parents first
            logp, rest = self.logp[node], self.rest(node)
            pieces, extending = self.vocab.pieces(rest), self.vocab.extending(rest)
            if local:
                logp = logp - _logsumexp(logp[pieces + extending])
            for t in pieces:
                path[node + (t,)] = path[node] + float(logp[t])
            for t in extending:
                spelled = self.vocab.bytes[t]
                if len(spelled) > len(rest):
                    probs[spelled[len(rest)]] += torch.exp(path[node] + logp[t])
                else:
                    ends.append((node + (t,), path[node] + float(logp[t])))
        after = next_log_probs(self.model, [self.kept + list(cover) for cover, _ in ends])
        spells = self.vocab.first_byte >= 0
        for (_, weight), logp in zip(ends, after, strict=True):
            probs.index_add_(0, self.vocab.first_byte[spells], (logp[spells] + weight).exp())
        return probs / probs.sum()


class HealingConstraint:
    """The first generated tokens spell `removed` again: each must extend it or be a piece of it;
    after it is spelled anything goes. With `tree`, `HealingChooser` makes the choice exact."""

    def __init__(
        self, removed: bytes, vocab: ByteVocab, tree: CoverTree | None = None, _cache: dict | None = None
    ):
        self.removed, self.vocab, self.tree = bytes(removed), vocab, tree
        self.path: list[int] = []  # tokens consumed while healing
        self.spelled = [0]  # bytes of `removed` spelled before each of them, and after the last
        self.free = 0  # tokens consumed after healing
        # bytes spelled -> (allowed ids, packed mask row), shared by forks
        self._allowed = {} if _cache is None else _cache

    @property
    def healing(self) -> bool:
        return self.spelled[-1] < len(self.removed)

    def _entry(self) -> tuple[frozenset, Tensor]:
        n = self.spelled[-1]
        if n not in self._allowed:
            rest = self.removed[n:]
            ids = frozenset(self.vocab.pieces(rest) + self.vocab.extending(rest))
            self._allowed[n] = (ids, pack_tokens(ids, len(self.vocab)))
        return self._allowed[n]

    def fill_mask(self, bitmask: Tensor, row: int) -> None:
        if self.healing:
            bitmask[row] = self._entry()[1]
        else:
            bitmask[row] = -1

    def accepts(self, token: int) -> bool:
        return not self.healing or token in self._entry()[0]

    def advance(self, token: int) -> bool:
        if not self.accepts(token):
            return False
        if self.healing:
            self.path.append(int(token))
            self.spelled.append(min(len(self.removed), self.spelled[-1] + len(self.vocab.bytes[token])))
        else:
            self.free += 1
        return True

    def rollback(self, n: int) -> None:
        if n > self.free + len(self.path):
            raise ValueError(f"cannot roll back {n} tokens; only {self.free + len(self.path)} were consumed")
        undo = max(0, n - self.free)
        self.free -= n - undo
        if undo:
            del self.path[-undo:], self.spelled[-undo:]

    def fork(self) -> HealingConstraint:
        new = HealingConstraint(self.removed, self.vocab, self.tree, self._allowed)
        new.path, new.spelled, new.free = list(self.path), list(self.spelled), self.free
        return new

    def is_done(self) -> bool:
        return False

    def twist(self) -> Tensor | None:
        """(V,) float64 log-weights that make the next choice exact (see `CoverTree.twists`); None when
        there is no tree or the text is spelled."""
        return self.tree.twists[tuple(self.path)] if self.tree is not None and self.healing else None


class HealingChooser:
    """Step 4 of `generate` under healing: adds each healing row's twist to its scores, then chooses
    with `inner` (default a `MaskedChooser`). Exact at temperature 1 without top-k/p/min-p, repetition
    penalty or guidance (the twists come from the plain model)."""

    def __init__(self, inner=None):
        self.inner = inner or MaskedChooser()

    def __call__(
        self,
        scores: Tensor,
        sampling,
        constraints: Sequence[Constraint | None],
        generator: torch.Generator | None = None,
        seen: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        twists = [c.twist() if isinstance(c, HealingConstraint) else None for c in constraints]
        if any(t is not None for t in twists):
            scores = scores.float().clone()
            for i, twist in enumerate(twists):
                if twist is not None:
                    scores[i] += twist.to(scores)
        return self.inner(scores, sampling, constraints, generator, seen)


def generate_healed(
    model,
    prompts: Sequence[Sequence[int]],
    vocab: ByteVocab,
    *,
    back: int | None = 1,
    keep: int = 1,
    exact: bool = True,
    pad_id: int = 0,
    **kwargs,
) -> tuple[GenerationOutput, list[list[int]]]:
    """`generate` after healing each prompt.

    Args:
        model, vocab: the LM and the bytes of its tokens.
        prompts: token ids per row (BOS first when the model takes one).
        back, keep: as in `back_up`.
        exact: build a `CoverTree` per row and choose with `HealingChooser`; False: plain token healing.
        pad_id, kwargs: as in `generate` (not `prompt_mask`, `constraints` or `chooser`).

    Returns:
        The output, whose first tokens spell the removed text again, and the kept prompts.
    """
    kept, constraints, shared = [], [], {}  # (kept, removed) -> (tree, mask cache) of equal prompts
    for prompt in prompts:
        tokens, removed = back_up(prompt, vocab, back, keep)
        key = (tuple(tokens), removed)
        if key not in shared:
            shared[key] = (CoverTree(model, tokens, removed, vocab) if exact else None, {})
        kept.append(tokens)
        constraints.append(HealingConstraint(removed, vocab, *shared[key]))
    tokens, mask = left_pad(kept, pad_id)
    device = next(model.parameters()).device
    chooser = HealingChooser() if exact else None
    out = generate(
        model, tokens.to(device), prompt_mask=mask.to(device), constraints=constraints, chooser=chooser,
        pad_id=pad_id, **kwargs,
    )  # fmt: skip
    return out, kept
