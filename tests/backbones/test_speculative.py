"""Token Recycling: greedy output identical to plain greedy; the acceptance rule preserves the distribution."""

import torch

from gfx.backbones.decoding import generate, left_pad
from gfx.backbones.sampling import GREEDY, SamplingConfig
from gfx.backbones.speculative import TokenRecycling, accept_candidates, default_tree

from .conftest import make_model
from .constraints_fixtures import EOS, VOCAB, automaton, is_valid


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
        fast = generate(
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
    fast = generate(
        model, prompt, constraints=[automaton(), automaton()], draft=TokenRecycling(len(VOCAB)), **kwargs
    )
    assert fast.sequences() == plain.sequences()
    for seq, done in zip(fast.sequences(), fast.finished.tolist(), strict=True):
        assert is_valid(seq) if done else True


def test_sampling_with_token_recycling_stays_valid_under_a_grammar():
    model = make_model(vocab_size=len(VOCAB), seed=3)
    out = generate(
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
