"""R2R routing: threshold 0 is the large model alone, 1 the small model alone; the router's labels and calls."""

import copy

import pytest
import torch

from gfx.backbones.constraints import AutomatonConstraint
from gfx.backbones.decoding import generate
from gfx.backbones.routing import TokenRouter, divergence_labels, generate_routed
from gfx.backbones.sampling import GREEDY

from .conftest import make_model

PROMPT = [3, 7, 1]


@pytest.fixture
def pair():
    small, large = make_model(seed=0), make_model(seed=1, n_layer=3, d_model=64)
    return small, large, TokenRouter(small.config.d_model, top_k=4)


def greedy_alone(model, n=20, constraints=None):
    out = generate(model, torch.tensor([PROMPT]), max_new_tokens=n, sampling=GREEDY, constraints=constraints)
    return out.sequences()[0]


def test_threshold_zero_is_the_large_model_and_one_the_small(pair):
    small, large, router = pair
    alone = {"small": greedy_alone(small), "large": greedy_alone(large)}
    assert alone["small"] != alone["large"]  # the models differ, so the test can fail
    for threshold, name in ((0.0, "large"), (1.0, "small")):
        out = generate_routed(small, large, router, PROMPT, threshold=threshold, max_new_tokens=20)
        assert out.tokens == alone[name]
        assert out.from_large == [name == "large"] * 20
        assert out.small_calls == 20 and out.large_calls == (20 if name == "large" else 0)


def test_router_choices_come_from_the_model_it_names_and_the_large_model_catches_up(pair):
    small, large, router = pair
    with torch.no_grad():
        router.mlp[-1].bias.fill_(0.0)
    out = generate_routed(small, large, router, PROMPT, threshold=0.5, max_new_tokens=24)
    assert 0 < out.large_share < 1  # a mixed route
    context = list(PROMPT)
    with torch.no_grad():
        for token, by_large in zip(out.tokens, out.from_large, strict=True):
            model = large if by_large else small
            assert token == int(model(torch.tensor([context]))[0, -1].argmax())  # its full-forward greedy choice
            context.append(token)
    assert out.large_calls == sum(out.from_large)  # one catch-up forward per routed token


def test_constraint_and_stop_token_are_respected(pair):
    small, large, router = pair
    constraint = AutomatonConstraint(0, lambda s: range(10, 20) if s < 3 else [2], lambda s, t: s + 1, 48,
                                     lambda s: s >= 4)
    out = generate_routed(small, large, router, PROMPT, threshold=0.5, max_new_tokens=10, constraint=constraint)
    assert all(10 <= t < 20 for t in out.tokens[:3]) and out.tokens[3:] == [2] and out.finished
    plain = generate_routed(small, large, router, PROMPT, threshold=1.0, max_new_tokens=30, stop_tokens=[5])
    assert 5 not in plain.tokens[:-1] and (plain.tokens[-1] == 5) == plain.finished


def test_labels_mark_the_positions_where_the_greedy_choices_differ(pair):
    small, _, router = pair
    large = copy.deepcopy(small)  # a perturbed copy: agrees on some tokens only
    with torch.no_grad():
        large.blocks[-1].mlp.down.weight.mul_(2.0)
    tokens = torch.randint(0, 48, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False
    features, labels = divergence_labels(small, large, router, tokens, mask)
    assert features.shape == (8 + 5, 32 + 4 + 1) and labels.shape == (13,)
    with torch.no_grad():
        differ = small(tokens).argmax(-1) != large(tokens).argmax(-1)
    assert torch.equal(labels.bool(), torch.cat([differ[0, :8], differ[1, :5]]))
    assert 0 < labels.mean() < 1


def test_threshold_outside_zero_one_is_refused(pair):
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        generate_routed(*pair, PROMPT, threshold=1.5, max_new_tokens=4)
