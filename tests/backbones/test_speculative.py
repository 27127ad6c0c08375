"""Token Recycling: greedy output identical to plain greedy; the acceptance rule preserves the distribution."""

import pytest
import torch

from gfx.backbones.decoding import generate, left_pad
from gfx.backbones.sampling import GREEDY, SamplingConfig
from gfx.backbones.speculative import (
    DEAD,
    TokenRecycling,
    accept_candidates,
    default_tree,
    generate_speculative,
    keep_path,
)

from .conftest import make_model
from .constraints_fixtures import COORDS, EOS, VOCAB, C, L, M, Q, Z, automaton, is_valid


def test_default_tree_shape():
    tree = default_tree(max_depth=6, rank_budget=2)
    assert len(tree) == 83 and (0, 0, 0, 0, 0, 0) in tree and (1, 1) in tree and (2, 1) not in tree
    assert TokenRecycling(10, tree=tree).tree_size == 84


def test_greedy_token_recycling_equals_plain_greedy():
    model = make_model(seed=1)
    prompt, mask = left_pad([[1, 2, 3], [4], [5, 6]])
    plain = generate(model, prompt, prompt_mask=mask, max_new_tokens=120, sampling=GREEDY, stop_tokens=[7])
    recycling = TokenRecycling(48)
    for _ in range(2):  # the second run starts with a warm adjacency matrix
        fast = generate_speculative(
            model,
            prompt,
            prompt_mask=mask,
            max_new_tokens=120,
            sampling=GREEDY,
            stop_tokens=[7],
            draft=recycling,
        )
        assert fast.sequences() == plain.sequences()
        assert fast.finished.tolist() == plain.finished.tolist()
    assert fast.forward_passes < plain.forward_passes * 3 and recycling.mean_accepted > 0.5


def test_greedy_token_recycling_with_prefix_and_grammar_equals_plain():
    model = make_model(vocab_size=len(VOCAB), seed=2, prefix_dim=4)
    prefix = torch.randn(2, 3, 4)
    prompt = torch.ones(2, 1, dtype=torch.long)
    kwargs = dict(prefix=prefix, max_new_tokens=80, sampling=GREEDY, stop_tokens=[EOS])
    plain = generate(model, prompt, constraints=[automaton(), automaton()], **kwargs)
    fast = generate_speculative(
        model, prompt, constraints=[automaton(), automaton()], draft=TokenRecycling(len(VOCAB)), **kwargs
    )
    assert fast.sequences() == plain.sequences()
    for seq, done in zip(fast.sequences(), fast.finished.tolist(), strict=True):
        assert is_valid(seq) if done else True


def test_sampling_with_token_recycling_stays_valid_under_a_grammar():
    model = make_model(vocab_size=len(VOCAB), seed=3)
    out = generate_speculative(
        model,
        torch.ones(4, 1, dtype=torch.long),
        max_new_tokens=150,
        sampling=SamplingConfig(),
        constraints=[automaton() for _ in range(4)],
        stop_tokens=[EOS],
        draft=TokenRecycling(len(VOCAB)),
        seed=0,
    )
    for seq, done in zip(out.sequences(), out.finished.tolist(), strict=True):
        assert is_valid(seq) if done else len(seq) == 150


def test_acceptance_rule_preserves_the_target_distribution():
    probs = torch.tensor([0.05, 0.4, 0.25, 0.2, 0.1])
    g = torch.Generator().manual_seed(0)
    n = 20000
    chosen = [accept_candidates(probs, [3, 1, 4], g)[0] for _ in range(n)]
    freq = torch.bincount(torch.tensor(chosen), minlength=5).float() / n
    torch.testing.assert_close(freq, probs, atol=0.012, rtol=0)
    token, index = accept_candidates(torch.tensor([0.0, 1.0]), [1], g)
    assert (token, index) == (1, 0)


def grammar_constraint():
    from gfx.backbones.constraints import Grammar

    from .constraints_fixtures import EBNF

    return Grammar(VOCAB, EBNF, stop_ids=[EOS]).constraint()


@pytest.mark.parametrize(
    "settings",
    [
        dict(),
        dict(context=1),
        dict(recycle="tree"),
        dict(context=1, recycle="tree", tree=default_tree(4, 2)),
    ],
)
@pytest.mark.parametrize("make_constraint", [automaton, grammar_constraint])
def test_greedy_token_recycling_under_a_grammar_equals_plain_with_a_warm_matrix(settings, make_constraint):
    model = make_model(vocab_size=len(VOCAB), seed=7, prefix_dim=4)  # long greedy outputs
    prefix = torch.randn(3, 2, 4, generator=torch.Generator().manual_seed(0))
    kwargs = dict(prefix=prefix, max_new_tokens=60, sampling=GREEDY, stop_tokens=[EOS])
    prompt = torch.ones(3, 1, dtype=torch.long)
    plain = generate(model, prompt, constraints=[make_constraint() for _ in range(3)], **kwargs)
    recycling = TokenRecycling(len(VOCAB), **settings)
    for _ in range(2):  # the second run starts with a warm matrix (and warm pairs)
        fast = generate_speculative(
            model, prompt, constraints=[make_constraint() for _ in range(3)], draft=recycling, **kwargs
        )
        assert fast.sequences() == plain.sequences()
        assert fast.finished.tolist() == plain.finished.tolist()
    # plain decoding would need one pass per token in each row
    assert fast.forward_passes < int(plain.lengths.sum()) and recycling.mean_accepted > 0.1


def test_draft_holds_only_tokens_the_constraint_allows():
    recycling = TokenRecycling(len(VOCAB), top_k=4, tree=default_tree(2, 1), context=1)
    a, b = COORDS[0], COORDS[1]
    recycling.adjacency[M] = torch.tensor([L, a, Z, b])  # after M only coordinates are legal
    recycling.adjacency[a] = torch.tensor([C, Z, b, a])  # after M a: one more coordinate
    recycling.adjacency[b] = torch.tensor([EOS, M, Q, L])  # after M b: nothing here is legal
    constraint = automaton()
    assert constraint.advance(M)
    tokens = recycling.draft(M, constraint)
    # depth-first numbering: (), (0,), (0, 0), (0, 1), (1,), (1, 0)
    assert tokens == [M, a, b, a, b, DEAD]
    assert constraint.states == [("start", 0), ("need", 2)]  # drafting left the state as it was
    assert recycling.draft(M) == [M, L, 0, 1, a, C]  # without a constraint: the rows as they are


def test_pair_context_drafts_the_successor_seen_after_the_same_two_tokens():
    recycling = TokenRecycling(10, top_k=3)
    recycling.record(5, torch.tensor([1, 2, 3]), previous=7)
    recycling.record(5, torch.tensor([4, 1, 6]), previous=8)
    assert recycling.candidates(5, previous=7) == [1, 2, 3, 4, 6]
    assert recycling.candidates(5, previous=8) == [4, 1, 6]
    assert recycling.candidates(5, previous=9) == [4, 1, 6]  # unseen pair: the matrix row
    assert recycling.draft(5, previous=7)[:3] == [5, 1, 0]  # the pair's best, then the row of 1
    last_only = TokenRecycling(10, top_k=3, context=1)
    last_only.record(5, torch.tensor([1, 2, 3]), previous=7)
    last_only.record(5, torch.tensor([4, 1, 6]), previous=8)
    assert last_only.candidates(5, previous=7) == [4, 1, 6] and last_only.pairs == {}


def test_keep_path_leaves_the_cache_of_plain_decoding_along_the_path():
    model = make_model(seed=5)
    recycling = TokenRecycling(48, tree=default_tree(2, 1))  # nodes (), (0,), (0,0), (0,1), (1,), (1,0)
    prompt, drafts = torch.tensor([[1, 2, 3]]), torch.tensor([[9, 10, 11, 12, 13, 14]])
    with torch.no_grad():
        cache = model.new_cache(1, 16)
        model(prompt, cache=cache)
        mask = torch.cat([torch.ones(6, 3, dtype=torch.bool), recycling.ancestors], 1)
        tree = model(drafts, cache=cache, position_ids=(3 + recycling.depths)[None], attn_mask=mask[None])
        keep_path(cache, 3, 3, [0, 4, 5])  # the path 9 -> 13 -> 14, not contiguous in the tree
        reference = model.new_cache(1, 16)
        plain = model(torch.tensor([[1, 2, 3, 9, 13, 14]]), cache=reference)
        assert (cache.length, cache.position) == (reference.length, reference.position) == (6, 6)
        torch.testing.assert_close(cache.keys[:, :, :, :6], reference.keys[:, :, :, :6])
        torch.testing.assert_close(cache.values[:, :, :, :6], reference.values[:, :, :, :6])
        assert cache.valid[:, :, :6].all() and not cache.valid[:, :, 6:].any()
        torch.testing.assert_close(tree[0, [0, 4, 5]], plain[0, 3:])
        nxt = torch.tensor([[20]])
        torch.testing.assert_close(model(nxt, cache=cache), model(nxt, cache=reference))


def test_sampling_with_warm_pairs_matches_the_model_distribution():
    model = make_model(vocab_size=6, seed=6, init_std=1.0)
    prompt = torch.tensor([[1]])
    with torch.no_grad():
        first = model(prompt)[0, -1].softmax(-1)  # p(x1)
        pairs = torch.tensor([[1, a] for a in range(6)])
        second = model(pairs)[:, -1].softmax(-1)  # p(x2 | x1 = a)
    exact = first[:, None] * second  # (6, 6) joint of the first two tokens
    recycling = TokenRecycling(6, top_k=3, tree=default_tree(2, 1))
    n = 1500  # 4 tokens per row so that verification passes complete; the first two are compared
    out = generate_speculative(
        model, prompt.expand(n, 1), max_new_tokens=4, sampling=SamplingConfig(), draft=recycling, seed=0
    )
    counts = torch.zeros(6, 6)
    for a, b, *_ in out.sequences():
        counts[a, b] += 1
    assert recycling.mean_accepted > 0.3  # the drafts were used, not just the residual draws
    torch.testing.assert_close(counts / n, exact, atol=0.03, rtol=0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="recycle must be"):
        TokenRecycling(10, recycle="all")
    with pytest.raises(ValueError, match="context must be"):
        TokenRecycling(10, context=3)
    with pytest.raises(ValueError, match="parent must come first"):
        TokenRecycling(10, tree=[(0, 0)])


def test_pair_table_keeps_the_most_recent_pairs_up_to_its_cap():
    recycler = TokenRecycling(vocab_size=16, top_k=2, max_pairs=2)
    for previous, last in [(1, 2), (2, 3), (1, 2), (3, 4)]:
        recycler.record(last, torch.tensor([previous, last]), previous=previous)
    assert list(recycler.pairs) == [(1, 2), (3, 4)]  # (2, 3) was the least recently recorded
