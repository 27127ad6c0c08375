"""The transformers adapter: same forward/cache interface as Transformer, works with generate() and
constraints, modality tokens initialised from their descriptions, local save/load round trip."""

import copy

import pytest
import torch

from gfx.backbones.constraints import AutomatonConstraint
from gfx.backbones.decoding import generate, left_pad
from gfx.backbones.sampling import GREEDY, SamplingConfig

transformers = pytest.importorskip("transformers")

from gfx.backbones.language import CausalLM  # noqa: E402


@pytest.fixture(scope="module")
def lm():
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.5,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return CausalLM.from_config(config, prefix_dim=6).eval()


def test_cached_chunks_match_a_full_forward_with_prefix(lm):
    tokens, prefix = torch.randint(0, 64, (2, 9)), torch.randn(2, 3, 6)
    with torch.no_grad():
        full = lm(tokens, prefix=prefix)
        cache = lm.new_cache(2)
        parts = [lm(tokens[:, :4], prefix=prefix, cache=cache), lm(tokens[:, 4:], cache=cache)]
    assert cache.length == cache.position == 12
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-4, rtol=1e-4)


def test_generate_cached_equals_uncached_with_left_padding(lm):
    prompt, mask = left_pad([[1, 2, 3], [4]])
    kwargs = dict(prompt_mask=mask, max_new_tokens=25, sampling=GREEDY)
    cached = generate(lm, prompt, **kwargs)
    assert torch.equal(cached.tokens, generate(lm, prompt, use_cache=False, **kwargs).tokens)
    single = generate(lm, torch.tensor([[4]]), max_new_tokens=25, sampling=GREEDY)
    assert cached.sequences()[1] == single.sequences()[0]
    assert len(set(cached.sequences()[0])) > 3  # not a degenerate repeat


def test_cache_rollback_fork_reorder_gather(lm):
    tokens = torch.randint(0, 64, (2, 6))
    with torch.no_grad():
        cache = lm.new_cache(2)
        lm(tokens, cache=cache)
        fork = cache.fork()
        reference = lm(torch.tensor([[5], [6]]), cache=fork)
        lm(torch.tensor([[9, 9], [9, 9]]), cache=cache)
        cache.rollback(2)
        assert torch.equal(lm(torch.tensor([[5], [6]]), cache=cache), reference)
        cache.reorder(torch.tensor([1]))
        cache.rollback(1)
        torch.testing.assert_close(lm(torch.tensor([[6]]), cache=cache), reference[1:], atol=1e-5, rtol=1e-5)
        cache.gather(torch.tensor([0, 1, 2, 3, 4, 5]))
        assert cache.length == 6 and cache.position == 7


def test_modality_tokens_start_at_the_mean_description_embedding(lm):
    lm = CausalLM.from_config(copy.deepcopy(lm.model.config)).eval()  # a fresh model to extend
    new = lm.add_modality_tokens(None, [[1, 2, 3], [10]])
    embed = lm.model.get_input_embeddings().weight
    head = lm.model.get_output_embeddings().weight
    assert new == [64, 65] and embed.shape[0] == 66 and head.shape[0] == 66
    torch.testing.assert_close(embed[64], embed[[1, 2, 3]].mean(0))
    torch.testing.assert_close(head[65], head[10])
    # generate() and constraints work over the extended vocabulary: only new tokens, then EOS (id 0)
    c = AutomatonConstraint(
        0, lambda n: [64, 65] if n < 4 else [0], lambda n, t: n + 1, 66, final=lambda n: n > 4
    )
    out = generate(
        lm,
        torch.tensor([[1]]),
        max_new_tokens=10,
        sampling=SamplingConfig(),
        constraints=[c],
        stop_tokens=[0],
        seed=0,
    )
    assert out.sequences()[0][:4] in ([a, b, c_, d] for a in new for b in new for c_ in new for d in new)
    assert out.sequences()[0][4] == 0 and out.finished.all()


def test_save_load_round_trip_is_local_and_identical(lm, tmp_path):
    lm.save_pretrained(tmp_path)
    loaded = CausalLM.from_pretrained(tmp_path)
    tokens, prefix = torch.randint(0, 64, (1, 5)), torch.randn(1, 2, 6)
    with torch.no_grad():
        assert torch.equal(loaded(tokens, prefix=prefix), lm(tokens, prefix=prefix))
    with pytest.raises(FileNotFoundError, match="local directories only"):
        CausalLM.from_pretrained(tmp_path / "missing")


def test_token_recycling_on_the_adapter_equals_plain_greedy(lm):
    from gfx.backbones.speculative import TokenRecycling, generate_speculative

    prompt = torch.tensor([[1, 2, 3]])
    plain = generate(lm, prompt, max_new_tokens=40, sampling=GREEDY)
    fast = generate_speculative(lm, prompt, max_new_tokens=40, sampling=GREEDY, draft=TokenRecycling(64))
    assert fast.sequences() == plain.sequences()
