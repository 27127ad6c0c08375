"""Keyformer: the cache stays within budget, recent tokens are always kept, no-op when under budget."""

import pytest
import torch

from gfx.backbones.decoding import generate
from gfx.backbones.keyformer import Keyformer
from gfx.backbones.sampling import GREEDY


def test_under_budget_keyformer_changes_nothing(model):
    prompt = torch.randint(0, 48, (2, 6))
    plain = generate(model, prompt, max_new_tokens=30, sampling=GREEDY)
    kept = generate(
        model, prompt, max_new_tokens=30, sampling=GREEDY, cache_policy=Keyformer(budget=64, recent=8)
    )
    assert torch.equal(plain.tokens, kept.tokens)


def test_cache_is_bounded_and_keeps_the_recent_window(model):
    policy = Keyformer(budget=12, recent=4)
    cache = model.new_cache(2, 64)
    policy.attach(cache)
    tokens = torch.randint(0, 48, (2, 20))
    with torch.no_grad():
        model(tokens, cache=cache)
    last_keys = cache.keys[:, :, :, 16:20].clone()
    policy.reduce(cache)
    assert cache.length == 12 and cache.position == 20 and policy.evicted == 8
    assert torch.equal(cache.keys[:, :, :, 8:12], last_keys)  # the 4 most recent slots survive, in order
    for t in range(5):
        with torch.no_grad():
            model(torch.randint(0, 48, (2, 1)), cache=cache)
        policy.reduce(cache)
        assert cache.length == 12 and cache.position == 21 + t
    assert cache.valid[:, :, :12].all() and not cache.valid[:, :, 12:].any()


def test_budget_must_hold_the_recent_window():
    with pytest.raises(ValueError, match="recent"):
        Keyformer(budget=4, recent=8)
