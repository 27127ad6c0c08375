"""Constraints: XGrammar on our own vocabulary == a hand-written automaton; sampling under either
always yields valid sequences; rollback/fork; AWRS weights; the SVG path tokenizer's grammar."""

import random

import pytest
import torch

from gfx.backbones.awrs import generate_awrs
from gfx.backbones.constraints import (
    AutomatonConstraint,
    BanningConstraint,
    Grammar,
    apply_bitmask,
    clear_tokens,
    new_bitmask,
    pack_tokens,
    unpack_bitmask,
)
from gfx.backbones.decoding import generate
from gfx.backbones.sampling import GREEDY, SamplingConfig

from .conftest import make_model
from .constraints_fixtures import COORDS, EBNF, EOS, VOCAB, C, L, M, allowed, automaton, is_valid


@pytest.fixture(scope="module")
def grammar():
    return Grammar(VOCAB, EBNF, stop_ids=[EOS])


def test_bitmask_pack_unpack_round_trip():
    tokens = [0, 5, 31, 32, 63, 200, 300]
    row = pack_tokens(tokens, 301)
    assert row.dtype == torch.int32 and row.shape == (10,)
    assert unpack_bitmask(row[None], 301)[0].nonzero().flatten().tolist() == tokens
    logits = apply_bitmask(torch.zeros(1, 301), row[None])
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == tokens


def test_clear_tokens_clears_only_those_bits_including_the_sign_bit():
    row = new_bitmask(1, 301)
    clear_tokens(row, 0, [0, 31, 63, 300])
    allowed_tokens = unpack_bitmask(row, 301)[0]
    assert allowed_tokens.sum() == 297 and not allowed_tokens[[0, 31, 63, 300]].any()


def no_repeated_coordinate(history):
    """Test ban: a coordinate may not equal the one just before it."""
    return [history[-1]] if history and history[-1] in COORDS else []


@pytest.mark.parametrize("kind", ["xgrammar", "automaton"])
def test_banning_constraint_adds_history_bans_to_the_grammar(kind, grammar):
    inner = grammar.constraint() if kind == "xgrammar" else automaton()
    c = BanningConstraint(inner, no_repeated_coordinate)
    assert c.advance(M) and c.advance(9)
    assert not c.accepts(9) and not c.advance(9) and c.accepts(10)  # banned, though the grammar allows it
    bits = new_bitmask(1, len(VOCAB))
    c.fill_mask(bits, 0)
    allowed_now = unpack_bitmask(bits, len(VOCAB))[0]
    assert not allowed_now[9] and allowed_now[10] and not allowed_now[L]  # grammar mask kept
    fork = c.fork()
    assert c.advance(10) and c.history == [M, 9, 10]
    c.rollback(1)
    assert c.history == [M, 9] and not c.accepts(9) and fork.history == [M, 9]


def test_sampling_under_a_banning_constraint_never_emits_a_banned_token(grammar):
    model = make_model(vocab_size=len(VOCAB), seed=1)
    n = 32
    constraints = [BanningConstraint(grammar.constraint(), no_repeated_coordinate) for _ in range(n)]
    out = generate(model, torch.full((n, 1), 1), max_new_tokens=120, sampling=SamplingConfig(temperature=1.0),
                   constraints=constraints, stop_tokens=[EOS], seed=0)
    for seq in out.sequences():
        assert not any(a == b and a in COORDS for a, b in zip(seq, seq[1:], strict=False))
    plain = generate(model, torch.full((n, 1), 1), max_new_tokens=120, sampling=SamplingConfig(temperature=1.0),
                     constraints=[grammar.constraint() for _ in range(n)], stop_tokens=[EOS], seed=0)
    assert any(a == b and a in COORDS for seq in plain.sequences() for a, b in zip(seq, seq[1:], strict=False))


def test_xgrammar_masks_equal_the_automaton_on_random_walks(grammar):
    rng = random.Random(0)
    bits_x, bits_a = new_bitmask(1, len(VOCAB)), new_bitmask(1, len(VOCAB))
    steps = 0
    for _ in range(40):
        x, a = grammar.constraint(), automaton()
        while not a.is_done():
            x.fill_mask(bits_x, 0)
            a.fill_mask(bits_a, 0)
            same = torch.equal(unpack_bitmask(bits_x, len(VOCAB)), unpack_bitmask(bits_a, len(VOCAB)))
            assert same, f"masks differ after {a.states[-1]}"
            options = sorted(set(allowed(a.state)))
            token = EOS if len(a.states) > 30 and EOS in options else rng.choice(options)
            assert x.advance(token) and a.advance(token)
            steps += 1
        assert x.is_done()
    assert steps > 400


@pytest.mark.parametrize("kind", ["xgrammar", "automaton"])
def test_constraint_refuses_rolls_back_and_forks(kind, grammar):
    c = grammar.constraint() if kind == "xgrammar" else automaton()
    assert not c.accepts(L) and not c.advance(EOS) and not c.advance(208)  # <col_0> is never allowed
    for t in (M, 8, 9, C, 10):
        assert c.advance(t)
    fork = c.fork()
    c.rollback(2)  # back to after "M x y"
    assert c.accepts(EOS) and not c.accepts(11)
    assert not fork.accepts(EOS) and fork.accepts(11)  # the fork still needs 5 more coordinates
    assert fork.advance(11) and not fork.is_done()


@pytest.mark.parametrize("kind", ["xgrammar", "automaton"])
def test_every_sampled_sequence_is_valid(kind, grammar):
    model = make_model(vocab_size=len(VOCAB), seed=1)
    n = 64
    constraints = [grammar.constraint() if kind == "xgrammar" else automaton() for _ in range(n)]
    out = generate(
        model,
        torch.full((n, 1), 1),
        max_new_tokens=200,
        sampling=SamplingConfig(temperature=1.0),
        constraints=constraints,
        stop_tokens=[EOS],
        seed=0,
    )
    finished = [seq for seq, f in zip(out.sequences(), out.finished.tolist(), strict=True) if f]
    assert len(finished) >= n // 2 and out.valid.all()
    assert all(is_valid(seq) for seq in finished)
    unconstrained = generate(model, torch.full((n, 1), 1), max_new_tokens=30, seed=0).sequences()
    assert not any(is_valid(seq) for seq in unconstrained)


def test_awrs_samples_valid_sequences_with_finite_weights(grammar):
    model = make_model(vocab_size=len(VOCAB), seed=2)
    n = 16
    out = generate_awrs(
        model,
        torch.full((n, 1), 1),
        max_new_tokens=200,
        sampling=SamplingConfig(temperature=1.0),
        constraints=[grammar.constraint() for _ in range(n)],
        stop_tokens=[EOS],
        seed=0,
    )
    for seq, finished in zip(out.sequences(), out.finished.tolist(), strict=True):
        assert is_valid(seq) if finished else all(automaton().advance(t) for t in seq[:1])
    assert torch.isfinite(out.log_weights).all() and (out.log_weights < 0).all()


def test_awrs_weight_estimates_the_allowed_mass_and_tokens_follow_the_conditional():
    from gfx.backbones.awrs import awrs_token

    probs = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05])
    allowed_tokens = {1, 3, 4}
    c = AutomatonConstraint(0, lambda s: allowed_tokens, lambda s, t: s, 5)
    g = torch.Generator().manual_seed(0)
    draws = [awrs_token(probs, c, g) for _ in range(3000)]
    mean_weight = sum(torch.tensor(w).exp().item() for _, w in draws) / len(draws)
    assert mean_weight == pytest.approx(0.45, rel=0.05)  # unbiased estimate of p(allowed)
    counts = torch.bincount(torch.tensor([t for t, _ in draws]), minlength=5).float() / len(draws)
    torch.testing.assert_close(counts, torch.tensor([0, 0.3, 0, 0.1, 0.05]) / 0.45, atol=0.03, rtol=0)


def test_dead_end_marks_the_row_invalid():
    c = AutomatonConstraint(0, lambda s: [3] if s == 0 else [], lambda s, t: 1, 48)
    out = generate(
        make_model(),
        torch.ones(2, 1, dtype=torch.long),
        max_new_tokens=5,
        sampling=GREEDY,
        constraints=[c, None],
        pad_id=-1,
    )
    assert out.sequences()[0] == [3] and out.valid.tolist() == [False, True]
    assert out.finished.tolist() == [True, False] and out.lengths.tolist() == [1, 5]


def test_svg_path_tokenizer_grammar_1000_sampled_sequences_all_parse():
    """The issue's check: 1,000 sequences from a random tiny model under the tokenizer grammar parse."""
    from gfx.svg.tokenizers.registry import PathTokenizer

    tok = PathTokenizer(grid=9)
    grammar = Grammar(tok.vocab, tok.grammar(), stop_ids=[tok.eos_id])
    model = make_model(vocab_size=tok.vocab_size, seed=5)
    n = 1000
    out = generate(
        model,
        torch.full((n, 1), tok.bos_id),
        max_new_tokens=250,
        sampling=SamplingConfig(),
        constraints=[grammar.constraint() for _ in range(n)],
        stop_tokens=[tok.eos_id],
        seed=0,
    )
    sequences = out.sequences()
    assert out.finished.all() and out.valid.all()
    assert all(tok.is_valid([tok.bos_id, *seq]) for seq in sequences)
    assert sum(len(s) for s in sequences) / n > 5  # not just empty icons
    for seq in sequences[:50]:
        tok.decode([tok.bos_id, *seq])  # strict decode raises on anything invalid


def test_any_allowed_ignores_bits_beyond_the_vocabulary():
    from gfx.backbones.constraints import any_allowed

    rows = torch.stack([pack_tokens([], 40), pack_tokens([39], 40), pack_tokens([3], 40)])
    rows[0, 1] = -256  # bits 40..63 set (xgrammar sets trailing bits), none below 40
    assert any_allowed(rows, 40).tolist() == [False, True, True]
