"""KVCache: crop/rollback, fork independence, reorder, gather, capacity errors."""

import pytest
import torch

from .conftest import make_model


def run(model, cache, tokens):
    with torch.no_grad():
        return model(tokens, cache=cache)


def test_rollback_then_new_tokens_equals_fresh_run(model):
    a, b = torch.randint(0, 48, (2, 6)), torch.randint(0, 48, (2, 3))
    cache = model.new_cache(2, 32)
    run(model, cache, a)
    run(model, cache, torch.randint(0, 48, (2, 4)))  # a draft that gets rejected
    cache.rollback(4)
    assert cache.length == cache.position == 6
    fresh = model.new_cache(2, 32)
    run(model, fresh, a)
    assert torch.equal(run(model, cache, b), run(model, fresh, b))


def test_fork_is_independent(model):
    cache = model.new_cache(1, 32)
    run(model, cache, torch.randint(0, 48, (1, 5)))
    fork = cache.fork()
    nxt = torch.tensor([[7]])
    out_fork = run(model, fork, nxt)
    run(model, cache, torch.tensor([[9, 9]]))  # the original moves on; the fork must not see it
    assert fork.length == 6 and cache.length == 7
    fork.rollback(1)
    assert torch.equal(run(model, fork, nxt), out_fork)


def test_reorder_selects_rows(model):
    tokens = torch.randint(0, 48, (3, 5))
    cache = model.new_cache(3, 16)
    run(model, cache, tokens)
    cache.reorder(torch.tensor([2, 2, 0]))
    single = model.new_cache(1, 16)
    run(model, single, tokens[2:3])
    out = run(model, cache, torch.tensor([[4], [4], [4]]))
    assert torch.equal(out[0], out[1])
    torch.testing.assert_close(out[:1], run(model, single, torch.tensor([[4]])), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("method", ["gather", "keep"])
def test_keeping_a_tree_path_equals_feeding_the_path(model, method):
    """Feeding [a, x, b] and keeping slots of a and b equals feeding [a, b] when b ignores x."""
    a, x, b = torch.tensor([[5, 6, 7]]), torch.tensor([[30]]), torch.tensor([[8]])
    cache = model.new_cache(1, 16)
    run(model, cache, a)
    mask = torch.tensor([[[True] * 3 + [True, False], [True] * 3 + [False, True]]])  # x and b both see only a
    with torch.no_grad():
        model(torch.cat([x, b], 1), cache=cache, attn_mask=mask, position_ids=torch.tensor([[3, 3]]))
    if method == "gather":
        cache.gather(torch.tensor([0, 1, 2, 4]))
    else:
        cache.keep(3, torch.tensor([4]))
        assert cache.length == 4
    cache.position = 4
    reference = model.new_cache(1, 16)
    run(model, reference, torch.cat([a, b], 1))
    nxt = torch.tensor([[11]])
    torch.testing.assert_close(run(model, cache, nxt), run(model, reference, nxt), atol=1e-4, rtol=1e-4)


def test_keep_refuses_slots_outside_the_tail(model):
    cache = model.new_cache(1, 16)
    run(model, cache, torch.tensor([[5, 6, 7]]))
    with pytest.raises(ValueError, match="slots must lie in"):
        cache.keep(2, torch.tensor([1]))


def test_capacity_and_crop_errors(model):
    cache = model.new_cache(1, 4)
    with pytest.raises(ValueError, match="capacity 4"):
        run(model, cache, torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="cannot crop"):
        cache.crop(3)


def test_nbytes_counts_committed_slots():
    model = make_model()
    cache = model.new_cache(2, 64)
    run(model, cache, torch.zeros(2, 10, dtype=torch.long))
    # 2 layers * 2 rows * 2 heads * 16 dims * 4 bytes * (k, v) per slot
    assert cache.nbytes() == 10 * 2 * 2 * 2 * 16 * 4 * 2
