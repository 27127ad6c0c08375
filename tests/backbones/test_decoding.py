"""generate(): cached == uncached, per-row stop tokens, padding, guidance, seeding, constraints."""

from types import SimpleNamespace

import pytest
import torch

from gfx.backbones.decoding import generate, left_pad
from gfx.backbones.guidance import Guidance
from gfx.backbones.sampling import GREEDY, SamplingConfig

from .conftest import make_model


class CountingModel:
    """Scripted backbone: the next token is always (last token + 1) % V."""

    def __init__(self, vocab_size=10):
        self.config = SimpleNamespace(vocab_size=vocab_size)

    def new_cache(self, batch_size, max_len):
        return SimpleNamespace()

    def __call__(
        self, tokens, *, prefix=None, prefix_mask=None, cache=None, attention_mask=None, logits_to_keep=0
    ):
        logits = torch.nn.functional.one_hot(
            (tokens + 1) % self.config.vocab_size, self.config.vocab_size
        ).float()
        return 10 * logits[:, -logits_to_keep:]


def test_rows_finish_independently_on_stop_tokens():
    out = generate(
        CountingModel(),
        torch.tensor([[1], [3], [6], [8]]),
        max_new_tokens=5,
        sampling=GREEDY,
        stop_tokens=[7],
        pad_id=-1,
    )
    assert out.sequences() == [[2, 3, 4, 5, 6], [4, 5, 6, 7], [7], [9, 0, 1, 2, 3]]
    assert out.tokens[1].tolist() == [4, 5, 6, 7, -1] and out.tokens[2].tolist() == [7, -1, -1, -1, -1]
    assert out.finished.tolist() == [False, True, True, False]
    assert out.lengths.tolist() == [5, 4, 1, 5]


def test_generation_stops_once_every_row_finished():
    out = generate(
        CountingModel(), torch.tensor([[5], [6]]), max_new_tokens=50, sampling=GREEDY, stop_tokens=[7]
    )
    assert out.forward_passes == 2 and out.finished.all()


@pytest.mark.parametrize("sampling", [GREEDY, SamplingConfig(temperature=0.9, top_k=20, top_p=0.95)])
def test_cached_and_uncached_decoding_give_identical_tokens(prefix_model, sampling):
    prompt, mask = left_pad([[1, 5, 9], [1], [1, 2]], pad_id=0)
    prefix = torch.randn(3, 4, 8)
    kwargs = dict(max_new_tokens=60, sampling=sampling, prompt_mask=mask, prefix=prefix, seed=7)
    cached = generate(prefix_model, prompt, **kwargs)
    uncached = generate(prefix_model, prompt, use_cache=False, **kwargs)
    assert cached.lengths.tolist() == [60, 60, 60]
    assert torch.equal(cached.tokens, uncached.tokens)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_dropping_finished_rows_keeps_the_tokens_and_shrinks_the_passes(prefix_model, scale):
    rows_per_pass = []

    def counting(tokens, **kwargs):
        rows_per_pass.append(len(tokens))
        return prefix_model(tokens, **kwargs)

    counting.config, counting.new_cache = prefix_model.config, prefix_model.new_cache
    prompt, mask = left_pad([[1, 5, 9], [1], [1, 2], [3, 4]], pad_id=0)
    kwargs = dict(max_new_tokens=40, sampling=SamplingConfig(temperature=1.0, top_p=0.9), prompt_mask=mask,
                  prefix=torch.randn(4, 4, 8), guidance=Guidance(scale), stop_tokens=[3, 7, 11], pad_id=0, seed=3)
    kept = generate(prefix_model, prompt, **kwargs)
    dropped = generate(counting, prompt, drop_finished=True, **kwargs)
    assert len(set(kept.lengths.tolist())) > 2  # rows finish at different steps
    assert torch.equal(kept.tokens, dropped.tokens) and torch.equal(kept.lengths, dropped.lengths)
    branches = 1 if scale == 1.0 else 2
    expected = [branches * 4] + [branches * int((kept.lengths > step).sum()) for step in range(1, len(rows_per_pass))]
    assert rows_per_pass == expected  # each pass runs only the rows still going


def test_padded_batch_rows_equal_single_row_runs(model):
    prompts = [[3, 4, 5, 6], [7], [8, 9]]
    tokens, mask = left_pad(prompts)
    batch = generate(model, tokens, prompt_mask=mask, max_new_tokens=30, sampling=GREEDY)
    for row, prompt in enumerate(prompts):
        single = generate(model, torch.tensor([prompt]), max_new_tokens=30, sampling=GREEDY)
        assert batch.sequences()[row] == single.sequences()[0]


def test_seed_reproduces_and_different_seeds_differ(model):
    prompt = torch.ones(4, 1, dtype=torch.long)
    a, b, c = (generate(model, prompt, max_new_tokens=20, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)


def test_guidance_matches_a_manual_two_branch_loop(prefix_model):
    prompt, prefix = torch.tensor([[1], [2]]), torch.randn(2, 3, 8)
    out = generate(
        prefix_model, prompt, prefix=prefix, guidance=Guidance(3.0), max_new_tokens=12, sampling=GREEDY
    )
    seq = prompt
    no_prefix = torch.zeros(2, 3, dtype=torch.bool)
    with torch.no_grad():
        for _ in range(12):
            cond = prefix_model(seq, prefix=prefix)[:, -1].log_softmax(-1)
            uncond = prefix_model(seq, prefix=torch.zeros_like(prefix), prefix_mask=no_prefix)[
                :, -1
            ].log_softmax(-1)
            seq = torch.cat([seq, (uncond + 3.0 * (cond - uncond)).argmax(-1, keepdim=True)], 1)
    assert torch.equal(out.tokens, seq[:, 1:])
    plain = generate(prefix_model, prompt, prefix=prefix, max_new_tokens=12, sampling=GREEDY)
    assert not torch.equal(plain.tokens, out.tokens)  # guidance changed something


def test_guidance_with_an_unconditional_prompt_of_another_length(model):
    out = generate(
        model,
        torch.tensor([[1, 2, 3]]),
        guidance=Guidance(2.0, uncond_prompt=torch.tensor([[1]])),
        max_new_tokens=8,
        sampling=GREEDY,
    )
    seq, useq = torch.tensor([[1, 2, 3]]), torch.tensor([[1]])
    with torch.no_grad():
        for _ in range(8):
            cond, uncond = model(seq)[:, -1].log_softmax(-1), model(useq)[:, -1].log_softmax(-1)
            tok = (uncond + 2.0 * (cond - uncond)).argmax(-1, keepdim=True)
            seq, useq = torch.cat([seq, tok], 1), torch.cat([useq, tok], 1)
    assert out.sequences()[0] == seq[0, 3:].tolist()


def test_repetition_penalty_reduces_repeats():
    model = make_model(seed=3)
    prompt = torch.ones(1, 1, dtype=torch.long)
    plain = generate(model, prompt, max_new_tokens=40, sampling=GREEDY).sequences()[0]
    penalised = generate(
        model, prompt, max_new_tokens=40, sampling=SamplingConfig(temperature=0, repetition_penalty=5.0)
    ).sequences()[0]
    assert len(set(penalised)) > len(set(plain))


def test_wrong_constraint_count_is_refused(model):
    with pytest.raises(ValueError, match="2 constraints for 1 rows"):
        generate(model, torch.ones(1, 1, dtype=torch.long), max_new_tokens=2, constraints=[None, None])


class FixedLogitsModel(CountingModel):
    """Scripted backbone whose next-token logits are always the same vector."""

    def __init__(self, logits):
        super().__init__(len(logits))
        self.logits = torch.as_tensor(logits, dtype=torch.float32)

    def __call__(self, tokens, *, logits_to_keep=0, **unused):
        return self.logits.expand(tokens.shape[0], max(logits_to_keep, 1), -1).clone()


@pytest.mark.parametrize("sampling", [SamplingConfig(temperature=1.0), SamplingConfig(temperature=0.7, top_p=0.9)])
def test_constrained_sampling_follows_the_masked_distribution(sampling):
    """Lazy masks (choose first, mask only refused rows) must not change the distribution."""
    from gfx.backbones.constraints import AutomatonConstraint
    from gfx.backbones.sampling import choose

    logits = torch.tensor([2.0, 1.5, 1.0, 0.5, 0.0, -0.5])
    allowed = {1, 3, 4}  # the most likely token is refused
    rows = 6000
    constraints = [AutomatonConstraint(0, lambda s: allowed, lambda s, t: s, vocab_size=6) for _ in range(rows)]
    out = generate(FixedLogitsModel(logits), torch.zeros(rows, 1, dtype=torch.long), max_new_tokens=1,
                   sampling=sampling, constraints=constraints, seed=3)
    counts = torch.bincount(out.tokens[:, 0], minlength=6).float()
    masked = logits.masked_fill(~torch.isin(torch.arange(6), torch.tensor(sorted(allowed))), float("-inf"))
    draws = torch.stack([choose(masked[None], sampling, torch.Generator().manual_seed(s), None) for s in range(4000)])
    expected = torch.bincount(draws[:, 0], minlength=6).float() / 4000
    assert counts[[0, 2, 5]].sum() == 0
    assert torch.allclose(counts / rows, expected, atol=0.03), (counts / rows, expected)


def test_constrained_greedy_takes_the_best_allowed_token():
    from gfx.backbones.constraints import AutomatonConstraint

    logits = torch.tensor([2.0, 1.5, 1.0, 0.5])
    refuse_best = AutomatonConstraint(0, lambda s: {1, 2}, lambda s, t: s, vocab_size=4)
    allow_best = AutomatonConstraint(0, lambda s: {0, 3}, lambda s, t: s, vocab_size=4)
    out = generate(FixedLogitsModel(logits), torch.zeros(2, 1, dtype=torch.long), max_new_tokens=1,
                   sampling=GREEDY, constraints=[refuse_best, allow_best])
    assert out.tokens[:, 0].tolist() == [1, 0]


def test_finished_rows_with_a_negative_pad_id_under_a_repetition_penalty():
    out = generate(
        CountingModel(),
        torch.tensor([[5], [1]]),
        max_new_tokens=4,
        sampling=SamplingConfig(temperature=0, repetition_penalty=1.5),
        stop_tokens=[6],
        pad_id=-1,
    )
    assert out.tokens.tolist() == [[6, -1, -1, -1], [2, 3, 4, 5]]
