"""SkipDecode: cached decoding == full forward under the schedule, a monotone schedule, off == the plain model."""

import copy

import pytest
import torch
from torch import nn

from gfx.backbones.decoding import generate
from gfx.backbones.skip_decode import SKIP_MODES, SkipSchedule, with_skip_decode
from gfx.backbones.transformer import TransformerConfig

from .conftest import make_model

SCHEDULE = (1, 5, 14)  # 4 layers up to position 5, one from position 14 (the 4 prefix slots count)


@pytest.mark.parametrize("mode", SKIP_MODES)
def test_cached_step_by_step_decoding_matches_the_full_forward(mode):
    model = make_model(n_layer=4, prefix_dim=8, n_kv_head=1, skip_decode=SCHEDULE, skip_mode=mode)
    plain = make_model(n_layer=4, prefix_dim=8, n_kv_head=1)
    tokens, prefix = torch.randint(0, 48, (2, 14)), torch.randn(2, 4, 8)
    with torch.no_grad():
        full = model(tokens, prefix=prefix)
        cache = model.new_cache(2, 32)
        steps = [model(tokens[:, :5], prefix=prefix, cache=cache)]
        steps += [model(tokens[:, i : i + 1], cache=cache) for i in range(5, 14)]
        unscheduled = plain(tokens, prefix=prefix)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(full[:, 4:], unscheduled[:, 4:], atol=1e-2)  # the schedule changes the model
    # the slots of the layers a position skipped stay empty
    depth = model.skip.depth(torch.arange(18))
    for layer in range(4):
        runs = depth >= model.skip.least_depth(layer)
        assert torch.equal(cache.valid[layer, 0, :18], runs)


@pytest.mark.parametrize("mode", SKIP_MODES)
def test_cached_and_uncached_generate_give_identical_tokens(mode):
    model = make_model(n_layer=4, skip_decode=(1, 2, 10), skip_mode=mode)
    prompt = torch.tensor([[0, 0, 3, 4], [5, 6, 7, 8]])
    mask = torch.tensor([[False, False, True, True], [True, True, True, True]])
    kwargs = dict(max_new_tokens=12, prompt_mask=mask, seed=3)
    cached, uncached = generate(model, prompt, **kwargs), generate(model, prompt, use_cache=False, **kwargs)
    assert torch.equal(cached.tokens, uncached.tokens)


@pytest.mark.parametrize("mode", SKIP_MODES)
def test_a_decode_step_runs_only_the_layers_of_its_depth(mode):
    model = make_model(n_layer=6, skip_decode=(2, 0, 8), skip_mode=mode)
    calls = []
    for i, block in enumerate(model.blocks):
        block.register_forward_hook(lambda *_, i=i: calls.append(i))
    cache = model.new_cache(1, 16)
    with torch.no_grad():
        model(torch.tensor([[1]]), cache=cache)
        for position in range(1, 12):
            calls.clear()
            model(torch.tensor([[position]]), cache=cache)
            assert calls == model.skip.layers(int(model.skip.depth(torch.tensor(position))))
    expected = {"exit": [0, 1], "skip": [0, 5]}[mode]  # depth 2 from position 8 on
    assert calls == expected


def test_exit_logits_are_those_of_the_model_cut_at_the_exit_layer():
    model = make_model(n_layer=4, skip_decode=(1, 0, 6), skip_mode="exit")
    tokens = torch.randint(0, 48, (1, 9))
    with torch.no_grad():
        logits = model(tokens)
        depth = model.skip.depth(torch.arange(9))
        for d in (4, 3, 2, 1):
            cut = copy.deepcopy(model)
            cut.skip, cut.blocks = None, nn.ModuleList(model.blocks[:d])  # the shared norm and head on top
            at = depth == d
            torch.testing.assert_close(logits[0, at], cut(tokens)[0, at], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", SKIP_MODES)
@pytest.mark.parametrize("n_layer, schedule", [(8, (4, 0, 128)), (8, (2, 10, 40)), (6, (1, 3, 4)), (4, (4, 0, 9))])
def test_schedule_is_monotone_and_each_depth_runs_a_subset_of_an_earlier_ones_layers(mode, n_layer, schedule):
    skip = SkipSchedule(n_layer, *schedule, mode)
    min_layers, start, stop = schedule
    depth = skip.depth(torch.arange(200)).tolist()
    assert depth[: start + 1] == [n_layer] * (start + 1) and depth[stop:] == [min_layers] * (200 - stop)
    assert all(a >= b for a, b in zip(depth, depth[1:], strict=False))
    for deeper, shallower in zip(depth, depth[1:], strict=False):  # the KV-cache condition
        assert set(skip.layers(shallower)) <= set(skip.layers(deeper))
        assert len(skip.layers(shallower)) == shallower
    assert skip.layers(n_layer) == list(range(n_layer))


def test_option_off_is_the_plain_model():
    plain, off = make_model(n_layer=3), make_model(n_layer=3, skip_decode=(3, 0, 8))  # min = n_layer: never skips
    scheduled = make_model(n_layer=3, skip_decode=(1, 0, 8))
    assert plain.skip is None and TransformerConfig().skip_decode == ()
    assert plain.state_dict().keys() == scheduled.state_dict().keys()  # no parameters of its own
    assert all(torch.equal(v, scheduled.state_dict()[k]) for k, v in plain.state_dict().items())
    tokens = torch.randint(0, 48, (2, 12))
    with torch.no_grad():
        assert torch.equal(off(tokens), plain(tokens))


def test_fine_tuning_copy_keeps_the_weights_and_trains_under_the_schedule():
    trained = make_model(n_layer=3)
    tuned = with_skip_decode(trained, (1, 0, 2), "exit").train()
    assert tuned.config.skip_decode == (1, 0, 2) and trained.skip is None
    assert all(torch.equal(v, tuned.state_dict()[k]) for k, v in trained.state_dict().items())
    tokens = torch.randint(0, 48, (2, 8))
    tuned.loss({"tokens": tokens, "loss_mask": torch.arange(8).expand(2, 8) >= 3}).backward()
    # targets from position 3 on are predicted at positions >= 2, which exit after layer 0: layers 1, 2 get nothing
    assert tuned.blocks[0].mlp.up.weight.grad.abs().sum() > 0
    assert all(tuned.blocks[i].mlp.up.weight.grad is None or not tuned.blocks[i].mlp.up.weight.grad.any()
               for i in (1, 2))


def test_config_round_trip_and_bad_schedules():
    config = TransformerConfig.from_name("tiny", skip_decode=(1, 0, 64), skip_mode="skip")
    assert TransformerConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="1 <= min_layers <= n_layer"):
        TransformerConfig.from_name("tiny", skip_decode=(3, 0, 64))
    with pytest.raises(ValueError, match="min_layers, start, stop"):
        TransformerConfig.from_name("tiny", skip_decode=(1, 64))
    with pytest.raises(ValueError, match="skip_mode 'top'"):
        TransformerConfig.from_name("tiny", skip_mode="top")
