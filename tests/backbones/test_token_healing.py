"""Token healing on a tiny random byte-level BPE model: the healed next-byte distribution equals the
exact byte-level marginal (brute force over the model), the unhealed and the plain-masking ones do not,
and `generate_healed` samples what the tree says."""

import functools
import math

import pytest
import torch

from gfx.backbones.token_healing import (
    ByteVocab,
    CoverTree,
    HealingConstraint,
    back_up,
    generate_healed,
)

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from gfx.backbones.language import CausalLM  # noqa: E402

SVG = [
    '<path d="M12 2L2 7l10 5 10-5-10-5z"/>', '<path d="M2 17l10 5 10-5"/>', '<path d="M2 12l10 5 10-5"/>',
    '<circle cx="12" cy="12" r="10"/>', '<line x1="12" y1="8" x2="12" y2="12"/>',
    '<rect x="3" y="3" width="18" height="18" rx="2"/>', '<path d="M21 12a9 9 0 1 1-6.219-8.56"/>',
    '<polyline points="22 12 18 12 15 21 9 3 6 12 2 12"/>',
]  # fmt: skip
PROMPTS = ['<circle cx="1', '<rect x="3" y="3" wid', '<line x1="12" y1="1']
"""Prompts that end inside a token of the text they begin (`12`, `width`)."""


@pytest.fixture(scope="module")
def tokenizer():
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(SVG * 20, vocab_size=320, special_tokens=["<s>", "</s>"], show_progress=False)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="module")
def lm(tokenizer):
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.25,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    return CausalLM.from_config(config, tokenizer).eval()


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return ByteVocab.from_tokenizer(tokenizer)


def prompt_ids(tokenizer, text: str) -> list[int]:
    return [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False).input_ids]


@functools.cache
def brute_next_byte(
    lm, context: tuple[int, ...], text: bytes, token_bytes: tuple[bytes, ...]
) -> torch.Tensor:
    """(256,) P(next byte | the text after `context` starts with `text`), by the plain recursion over
    every token: P(starts with s) = sum_t p(t) [t spells s and more, or exactly s then a byte, or a
    piece of s and then the rest]; tokens without bytes end the text."""

    @functools.cache
    def probs(ctx: tuple) -> torch.Tensor:
        with torch.no_grad():
            return lm(torch.tensor([ctx]))[0, -1].double().softmax(-1)

    @functools.cache
    def after(ctx: tuple, s: bytes) -> torch.Tensor:  # (256,) mass of each byte following s
        out, p = torch.zeros(256, dtype=torch.float64), probs(ctx)
        for t, b in enumerate(token_bytes):
            if not b:
                continue
            if b.startswith(s) and len(b) > len(s):
                out[b[len(s)]] += p[t]
            elif b == s:
                out += p[t] * after(ctx + (t,), b"")
            elif s.startswith(b):
                out += p[t] * after(ctx + (t,), s[len(b) :])
        return out

    out = after(context, text)
    return out / out.sum()


def tv(p: torch.Tensor, q: torch.Tensor) -> float:
    return 0.5 * float((p - q).abs().sum())


def test_byte_vocab_spells_what_the_tokenizer_decodes(tokenizer, vocab):
    for text in [*SVG, '<path d="M1', "héllo wörld"]:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert vocab.spell(ids) == text.encode()
    assert vocab.bytes[tokenizer.bos_token_id] == b"" and len(vocab) == len(tokenizer)
    assert sorted(vocab.pieces(b"12")) == [vocab._ids[b"1"][0]]
    assert all(vocab.bytes[t].startswith(b"wid") for t in vocab.extending(b"wid")) and vocab.extending(b"wid")


@pytest.mark.parametrize("text", PROMPTS)
@pytest.mark.parametrize("back", [1, 3, None])
def test_healed_next_byte_is_the_exact_marginal(lm, tokenizer, vocab, text, back):
    kept, removed = back_up(prompt_ids(tokenizer, text), vocab, back)
    assert vocab.spell(kept) + removed == text.encode()
    tree = CoverTree(lm, kept, removed, vocab)
    exact = brute_next_byte(lm, tuple(kept), removed, tuple(vocab.bytes))
    torch.testing.assert_close(tree.next_byte_probs(), exact, atol=1e-6, rtol=0)


def test_without_healing_or_with_plain_masking_the_next_byte_is_biased(lm, tokenizer, vocab):
    """Against the byte-level marginal over every tokenization of the prompt."""
    unhealed, masked = [], []
    for text in PROMPTS:
        ids = prompt_ids(tokenizer, text)
        exact = brute_next_byte(lm, tuple(ids[:1]), text.encode(), tuple(vocab.bytes))
        unhealed.append(tv(CoverTree(lm, ids, b"", vocab).next_byte_probs(), exact))
        masked.append(tv(CoverTree(lm, *back_up(ids, vocab, None), vocab).next_byte_probs(local=True), exact))
    assert min(unhealed) > 0.5 and sum(masked) / len(masked) > 0.1, (unhealed, masked)


def next_bytes(vocab, removed: bytes, sequences: list[list[int]]) -> tuple[torch.Tensor, int]:
    """(256,) frequency of the byte after `removed` in the rows that spell it and go on, and how many rows did."""
    counts = torch.zeros(256, dtype=torch.float64)
    for seq in sequences:
        spelled = vocab.spell(seq)
        assert spelled.startswith(removed) or removed.startswith(spelled)
        if len(spelled) > len(removed):
            counts[spelled[len(removed)]] += 1
    return counts / counts.sum(), int(counts.sum())


def sampling_noise(probs: torch.Tensor, n: int) -> float:
    """The expected total variation between `probs` and the frequencies of n draws from it (normal approximation)."""
    return float(0.5 * (2 * probs * (1 - probs) / (math.pi * n)).sqrt().sum())


def test_generate_healed_samples_the_tree_distribution(lm, tokenizer, vocab):
    ids, n = prompt_ids(tokenizer, '<polyline points="2'), 3000
    kept, removed = back_up(ids, vocab, 2)
    tree = CoverTree(lm, kept, removed, vocab)
    exact, local = tree.next_byte_probs(), tree.next_byte_probs(local=True)
    assert tv(exact, local) > 0.1  # the two samplers below are told apart
    for healing, expected in ((True, exact), (False, local)):
        out, kept_rows = generate_healed(
            lm, [ids] * n, vocab, back=2, exact=healing, max_new_tokens=len(removed) + 1,
            stop_tokens=[tokenizer.eos_token_id], seed=0,
        )  # fmt: skip
        assert kept_rows == [kept] * n
        frequency, rows = next_bytes(vocab, removed, out.sequences())
        noise = sampling_noise(expected, rows)
        assert tv(exact, local) > 4 * noise  # a sampler of the other distribution would fail the next line
        assert tv(frequency, expected) < 2 * noise, (healing, tv(frequency, expected), noise)


def test_healing_constraint_masks_rolls_back_and_forks(vocab):
    c = HealingConstraint(b"wid", vocab)
    w, i = vocab._ids[b"w"][0], vocab._ids[b"i"][0]
    assert c.accepts(w) and not c.accepts(i) and all(c.accepts(t) for t in vocab.extending(b"wid"))
    assert c.advance(w) and c.healing and c.accepts(i) and not c.accepts(w)
    fork = c.fork()
    width = vocab.extending(b"id")[0]
    assert c.advance(width) and not c.healing and c.accepts(w) and c.advance(w)
    assert fork.healing and not fork.accepts(w)
    c.rollback(2)
    assert c.path == [w] and c.accepts(i) and not c.accepts(w)
    mask = torch.zeros(1, 10, dtype=torch.int32)
    c.fill_mask(mask, 0)
    from gfx.backbones.constraints import unpack_bitmask

    allowed = unpack_bitmask(mask, len(vocab))[0].nonzero().flatten().tolist()
    assert sorted(allowed) == sorted(vocab.pieces(b"id") + vocab.extending(b"id"))
    with pytest.raises(ValueError, match="roll back"):
        c.rollback(2)


def test_back_up_keeps_the_first_tokens(vocab):
    ids = [0, 5, 6, 7]
    assert back_up(ids, vocab, 2) == ([0, 5], vocab.spell([6, 7]))
    assert back_up(ids, vocab, None) == ([0], vocab.spell([5, 6, 7]))
    assert back_up(ids, vocab, 9, keep=2) == ([0, 5], vocab.spell([6, 7]))
    assert back_up(ids, vocab, 0) == (ids, b"")
