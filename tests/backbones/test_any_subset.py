"""AS-ARM and ASSD: the one-pass density is the chain of in-order conditionals; ASSD samples the joint
distribution of sequential sampling (and a biased acceptance rule fails the same test)."""

import itertools

import pytest
import torch
from scipy.stats import chisquare

from gfx.backbones.any_subset import (
    any_subset_loss,
    chain_logits,
    log_prob,
    masked_order,
    sample_assd,
    sample_in_order,
    speculative_accept,
)

from .conftest import make_model

MASK = 0
VOCAB = 5


def infill_problem(rows: int = 1):
    """Tokens (rows, 7) with positions 1, 3, 4 masked (3 per row) under a tiny random model."""
    model = make_model(vocab_size=VOCAB, seed=3, init_std=1.0)
    tokens = torch.tensor([[1, 2, 3, 4, 2, 1, 3]]).expand(rows, 7).clone()
    masked = torch.zeros_like(tokens, dtype=torch.bool)
    masked[:, [1, 3, 4]] = True
    return model, tokens, masked


def exact_joint(model, tokens, masked) -> tuple[list[tuple[int, ...]], torch.Tensor]:
    """Every filling of the masked positions (any of the V ids) and its probability under the chain."""
    fillings = list(itertools.product(range(VOCAB), repeat=int(masked[0].sum())))
    rows = tokens[:1].expand(len(fillings), -1).clone()
    rows[:, masked[0]] = torch.tensor(fillings)
    return fillings, log_prob(model, rows, masked[:1].expand_as(rows), MASK).double().exp()


def chi_square_pvalue(samples: torch.Tensor, masked, fillings, probs) -> float:
    index = {f: i for i, f in enumerate(fillings)}
    counts = torch.zeros(len(fillings))
    for row in samples[:, masked[0]].tolist():
        counts[index[tuple(row)]] += 1
    keep = probs * len(samples) >= 5  # pool the rare outcomes into one bin
    observed = torch.cat([counts[keep], counts[~keep].sum()[None]])
    expected = torch.cat([probs[keep], probs[~keep].sum()[None]]) * len(samples)
    return float(chisquare(observed.numpy(), expected.numpy() * observed.sum().item() / expected.sum().item())[1])


def test_one_pass_density_is_the_chain_of_in_order_conditionals():
    model, tokens, masked = infill_problem(2)
    tokens[1, [1, 3, 4]] = torch.tensor([4, 1, 2])
    order = masked_order(masked)
    steps = torch.zeros(2, dtype=torch.float64)
    for m in range(3):  # the m-th factor from a pass that knows only the first m masked tokens
        hidden = tokens.clone()
        hidden[:, order[0, m:]] = 0  # later masked tokens must not matter: overwrite them
        logits = chain_logits(model, hidden, masked, torch.full((2,), m), MASK, slots=torch.full((2, 1), m))
        steps += logits[:, 0].double().log_softmax(-1).gather(1, tokens[:, order[0, m : m + 1]])[:, 0]
    torch.testing.assert_close(log_prob(model, tokens, masked, MASK).double(), steps, atol=1e-5, rtol=1e-5)
    fillings, probs = exact_joint(model, tokens, masked)
    assert abs(float(probs.sum()) - 1) < 1e-5


def test_the_loss_is_the_mean_negative_log_density():
    model, tokens, masked = infill_problem(2)
    tokens[1, [1, 3, 4]] = torch.tensor([4, 1, 2])
    with torch.no_grad():
        loss = any_subset_loss(model, tokens, masked, MASK)
    assert abs(float(loss) - float(-log_prob(model, tokens, masked, MASK).mean() / 3)) < 1e-5


def test_sequential_and_assd_sample_the_exact_joint_and_a_biased_rule_is_caught():
    model, tokens, masked = infill_problem(6000)
    fillings, probs = exact_joint(model, tokens, masked)
    # the test only has power if the masked tokens depend on each other: the chain is far from the
    # product of the first-pass marginals that drafting assumes
    marginals = chain_logits(model, tokens[:1], masked[:1], torch.zeros(1, dtype=torch.long), MASK)[0]
    marginals = marginals.double().softmax(-1)
    independent = torch.tensor([float(marginals[0, a] * marginals[1, b] * marginals[2, c]) for a, b, c in fillings])
    assert 0.5 * float((independent - probs).abs().sum()) > 0.15

    def resample_from_target(target, draft, drafts, generator=None):  # the classic bug: no residual
        kept, correction = speculative_accept(target, draft, drafts, generator)
        if correction is not None:
            correction = int(torch.multinomial(target[kept], 1, generator=generator))
        return kept, correction

    g = torch.Generator().manual_seed(0)
    sequential, passes = sample_in_order(model, tokens, masked, MASK, generator=g)
    assert passes == 3
    assert chi_square_pvalue(sequential, masked, fillings, probs) > 1e-3
    assd, _ = sample_assd(model, tokens, masked, MASK, draft=3, generator=g)
    assert chi_square_pvalue(assd, masked, fillings, probs) > 1e-3
    biased, _ = sample_assd(model, tokens, masked, MASK, draft=3, generator=g, accept=resample_from_target)
    assert chi_square_pvalue(biased, masked, fillings, probs) < 1e-6


@pytest.mark.parametrize("draft", [1, 2, 8])
def test_assd_keeps_the_known_tokens_and_makes_at_most_one_pass_more_than_it_fills(draft):
    model = make_model(vocab_size=12, seed=1)
    tokens = torch.randint(1, 12, (1, 16))
    masked = torch.rand(1, 16) < 0.6
    for seed in range(5):
        filled, passes = sample_assd(model, tokens, masked, MASK, draft=draft,
                                     generator=torch.Generator().manual_seed(seed))
        assert torch.equal(filled[~masked], tokens[~masked])
        assert passes <= int(masked.sum()) + 1


def test_rows_must_mask_equally_many_positions():
    model, tokens, masked = infill_problem(2)
    masked[1, 6] = True
    with pytest.raises(ValueError, match="same number"):
        sample_assd(model, tokens, masked, MASK)
