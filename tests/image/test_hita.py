"""Hita on tiny random weights: token order, the holistic ablation's budget, cached = uncached sampling, the
generator's per-range loss, save -> load, errors."""

import pytest
import torch

from gfx.image.ar_pipeline import TextCondition
from gfx.image.hita import HitaPipeline, HitaTokenizer, HitaTokenizerConfig


def tiny_pipe(**overrides) -> HitaPipeline:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tokenizer = HitaTokenizer(HitaTokenizerConfig.from_name("tiny", **overrides))
    return HitaPipeline(tokenizer, HitaPipeline.new_generator(tokenizer.config, "tiny")).eval()


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipe()


def pixels(n=2, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_holistic_tokens_come_first_and_the_ablation_keeps_the_budget(pipe):
    codes = pipe.tokenizer.encode(pixels())
    M, hw = 4, 16
    assert codes.holistic.shape == (2, M) and codes.patches.shape == (2, hw)
    tokens = pipe.to_tokens(codes)
    holistic, patches = pipe.ranges()
    assert tokens[:, 0].eq(0).all()  # BOS, then holistic ids, then patch ids
    assert all(int(t) in holistic for t in tokens[:, 1 : 1 + M].flatten())
    assert all(int(t) in patches for t in tokens[:, 1 + M :].flatten())
    ablation = tiny_pipe(holistic=False)
    assert ablation.tokenizer.queries is None and ablation.tokenizer.config.tokens == pipe.tokenizer.config.tokens
    assert ablation.tokenizer.encode(pixels()).holistic.shape == (2, M)


def test_the_decoder_reads_the_holistic_codes_through_the_shift(pipe):
    codes = pipe.tokenizer.encode(pixels())
    image = pipe.tokenizer.decode(codes)
    codes.holistic = (codes.holistic + 1) % pipe.tokenizer.config.holistic_codes
    assert not torch.allclose(pipe.tokenizer.decode(codes), image)  # k = 1: the last holistic output decodes patch 0


def test_cached_and_uncached_sampling_give_the_same_tokens_in_range(pipe):
    condition = TextCondition.of(["a large red circle", "a small blue star"])
    cached = pipe.sample_codes(condition, 2, seed=3, guidance=2.0)
    uncached = pipe.sample_codes(condition, 2, seed=3, guidance=2.0, use_cache=False)
    assert torch.equal(cached.holistic, uncached.holistic) and torch.equal(cached.patches, uncached.patches)
    assert cached.holistic.max() < 32 and cached.patches.min() >= 0


def test_generator_loss_counts_each_token_type_within_its_range(pipe):
    batch = {"pixels": pixels(), "prompts": ["a large red circle", ""]}
    loss = pipe.loss(batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert float(loss) < 2 * torch.log(torch.tensor(32.0)) + 1  # CE over 32 codes per head, not the whole vocabulary
    loss.backward()
    assert pipe.generator.embed.weight.grad is not None
    assert all(p.grad is None for p in pipe.tokenizer.parameters())  # the tokenizer is not trained by this loss


def test_save_load_round_trip_and_results(pipe, tmp_path):
    from gfx.checkpoint import load_pretrained

    pipe.save_pretrained(tmp_path / "hita")
    loaded = load_pretrained(tmp_path / "hita")
    assert type(loaded) is HitaPipeline
    a = pipe("a large red circle", n=2, seed=5)
    b = loaded("a large red circle", n=2, seed=5)
    assert [r.image.shape for r in a] == [(16, 16, 3)] * 2
    assert all((x.image == y.image).all() for x, y in zip(a, b, strict=True))


def test_bad_inputs_give_clear_errors(pipe):
    with pytest.raises(ValueError, match=r"expected \(B, 3, 16, 16\) pixels"):
        pipe.tokenizer.encode(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="shift 5 must lie in"):
        HitaTokenizerConfig.from_name("tiny", shift=5)
    with pytest.raises(ValueError, match="takes no controls"):
        pipe("a circle", controls=[object()])
    with pytest.raises(ValueError, match="n must be at least 1"):
        pipe("a circle", n=0)
