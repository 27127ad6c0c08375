"""Samplers: filters keep exactly the right tokens, penalties and guidance compute what they claim."""

import pytest
import torch

from gfx.backbones.sampling import (
    SamplingConfig,
    choose,
    distribution,
    guide,
    make_generator,
    repetition_penalty,
)

PROBS = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
LOGITS = PROBS.log()


def kept(config: SamplingConfig) -> list[int]:
    return distribution(LOGITS, config)[0].nonzero().flatten().tolist()


def test_filters_keep_the_expected_tokens():
    assert kept(SamplingConfig()) == [0, 1, 2, 3]
    assert kept(SamplingConfig(top_k=2)) == [0, 1]
    assert kept(SamplingConfig(top_p=0.7)) == [0, 1]  # 0.5 < 0.7 <= 0.8
    assert kept(SamplingConfig(top_p=0.5)) == [0]
    assert kept(SamplingConfig(min_p=0.2)) == [0, 1, 2]  # threshold 0.1
    assert kept(SamplingConfig(temperature=0)) == [0]
    torch.testing.assert_close(
        distribution(LOGITS, SamplingConfig(top_k=2)), torch.tensor([[0.625, 0.375, 0, 0]])
    )


def test_nucleus_of_a_large_vocabulary_matches_a_full_sort_peaked_or_flat():
    from gfx.backbones.sampling import NUCLEUS_CANDIDATES, top_p_filter

    torch.manual_seed(0)
    vocab = 8 * NUCLEUS_CANDIDATES[-1]
    peaked = torch.randn(3, vocab) * 4  # the nucleus lies within the candidates
    medium = torch.randn(2, vocab) * 1.5  # within the larger count only, for some p
    flat = torch.randn(2, vocab) * 0.01  # it needs most of the row: the full sort
    masked = peaked[:1].masked_fill(torch.rand(1, vocab) < 0.9, float("-inf"))  # grammar-masked rows
    for logits in (peaked, medium, flat, torch.cat([peaked, flat]), masked):
        for p in (0.1, 0.5, 0.95):
            probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
            nucleus = [set(order[i, : int((probs[i].cumsum(0) - probs[i] < p).sum())].tolist())
                       for i in range(len(logits))]
            kept = top_p_filter(logits, p).isfinite()
            assert [set(row.nonzero().flatten().tolist()) for row in kept] == nucleus
    assert top_p_filter(flat, 0.5).isfinite().sum(-1).min() > NUCLEUS_CANDIDATES[-1]


def test_draw_follows_the_probabilities_and_never_picks_a_zero():
    from gfx.backbones.sampling import draw

    probs = torch.tensor([[0.0, 0.2, 0.0, 0.5, 0.3, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 2.0]])  # rows need not sum to 1
    generator = torch.Generator().manual_seed(0)
    picks = torch.stack([draw(probs, generator) for _ in range(20_000)])  # (N, 2)
    frequency = torch.bincount(picks[:, 0], minlength=6).float() / len(picks)
    torch.testing.assert_close(frequency, probs[0], atol=0.015, rtol=0)
    assert (picks[:, 1] == 5).all()


def test_temperature_sharpens_and_flattens():
    cold = distribution(LOGITS, SamplingConfig(temperature=0.5))[0]
    torch.testing.assert_close(cold, PROBS[0] ** 2 / (PROBS[0] ** 2).sum())
    assert distribution(LOGITS, SamplingConfig(temperature=100.0))[0].std() < 0.01


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    logits = torch.tensor([[2.0, -2.0, 2.0]])
    seen = torch.tensor([[True, True, False]])
    assert repetition_penalty(logits, seen, 2.0).tolist() == [[1.0, -4.0, 2.0]]
    assert (
        choose(
            torch.tensor([[2.0, 1.5]]),
            SamplingConfig(temperature=0, repetition_penalty=2.0),
            seen=torch.tensor([[True, False]]),
        ).item()
        == 1
    )


def test_guidance_scale_one_is_conditional_and_larger_extrapolates():
    cond, uncond = torch.randn(2, 7), torch.randn(2, 7)
    torch.testing.assert_close(guide(cond, uncond, 1.0), cond.log_softmax(-1))
    expected = uncond.log_softmax(-1) + 3 * (cond.log_softmax(-1) - uncond.log_softmax(-1))
    torch.testing.assert_close(guide(cond, uncond, 3.0), expected)


def test_seeded_sampling_is_reproducible_and_matches_the_distribution():
    config = SamplingConfig(top_k=3)
    a = choose(LOGITS.expand(4000, 4), config, make_generator(1, "cpu"))
    b = choose(LOGITS.expand(4000, 4), config, make_generator(1, "cpu"))
    assert torch.equal(a, b) and not (a == 3).any()
    freq = torch.bincount(a, minlength=4)[:3].float() / 4000
    torch.testing.assert_close(freq, torch.tensor([0.5, 0.3, 0.15]) / 0.95, atol=0.03, rtol=0)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=0)
    with pytest.raises(ValueError, match="repetition_penalty"):
        SamplingConfig(repetition_penalty=0)
