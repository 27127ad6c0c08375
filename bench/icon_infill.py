"""Icon infilling for the backbone-option measurements (bench/backbone_options.py): IconShop's FIM as the
baseline, the masks it is measured on, and the score of an infill.

    problems = infill_problems(tok, val_seqs, seed=0)           # one span of whole path elements per icon
    fim = train_lm(path_lm(tok, max_seq_len=136), fim_sequences(tok, train_seqs, 0), steps, seed=0)
    filled, passes = fim_infill(fim, tok, problem, generator)  # spliced back: BOS ... EOS
    score = InfillScore.of(tok, problems, fillings, seconds, passes)

A problem is an icon with one random span of whole path elements to fill, drawn as IconShop's FIM training
draws it (`gfx.recipes.iconshop_data.element_span`). Every option fills the same problems.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gfx.svg.tokenizers.vocab import EOM_ID, MASK_ID


@dataclass(frozen=True)
class InfillProblem:
    """An icon `ids` (L,) int64 `BOS ... EOS` whose tokens `start..end-1` (whole path elements) are to be filled."""

    ids: np.ndarray
    start: int
    end: int

    @property
    def masked(self) -> torch.Tensor:
        """(1, L) bool, True on the span."""
        mask = torch.zeros(1, len(self.ids), dtype=torch.bool)
        mask[0, self.start : self.end] = True
        return mask

    @property
    def context(self) -> np.ndarray:
        """The icon without the span: (L - span,) int64."""
        return np.concatenate([self.ids[: self.start], self.ids[self.end :]])


def infill_problems(tokenizer, seqs: Sequence[np.ndarray], seed: int) -> list[InfillProblem]:
    """One seeded element span per icon of `seqs` (icons without a path element are skipped)."""
    from gfx.recipes.iconshop_data import element_span

    rng = np.random.default_rng(seed)
    spans = [(ids, element_span(ids, tokenizer, rng)) for ids in seqs]
    return [InfillProblem(ids, *span) for ids, span in spans if span is not None]


def fim_sequences(tokenizer, seqs: Sequence[np.ndarray], seed: int, copies: int = 3, fim_prob: float = 0.5):
    """IconShop's FIM training sequences: `copies` augmented versions of each icon, each moved to the FIM layout
    `BOS pre MASK post EOS MASK span EOM` with probability `fim_prob` (`fim_permute`), else left as it is."""
    from gfx.recipes.iconshop_data import fim_permute

    rng = np.random.default_rng(seed)
    return [fim_permute(s, tokenizer, rng) if rng.random() < fim_prob else s for _ in range(copies) for s in seqs]


def fim_prompt(tokenizer, problem: InfillProblem) -> list[int]:
    """`BOS pre MASK post EOS MASK`: what a FIM model reads before it writes the span."""
    fim = tokenizer.fim_split(problem.ids, problem.start, problem.end)
    return fim[: fim.index(MASK_ID, fim.index(MASK_ID) + 1) + 1]


@torch.no_grad()
def fim_infill(model, tokenizer, problem: InfillProblem, generator: torch.Generator) -> tuple[list[int], int]:
    """Sample a span with a FIM model (KV cache, temperature 1, until EOM; at most 128 tokens) and splice it
    back: (the icon's ids, forward passes)."""
    from gfx.backbones.decoding import generate

    prompt = fim_prompt(tokenizer, problem)
    out = generate(model, torch.tensor([prompt]), max_new_tokens=min(128, model.config.max_seq_len - len(prompt)),
                   stop_tokens=(EOM_ID,), generator=generator)
    return tokenizer.fim_join(prompt + out.sequences()[0]), out.forward_passes


@torch.no_grad()
def fim_span_nll(model, tokenizer, problem: InfillProblem) -> tuple[float, float]:
    """Negative log-likelihood (nats) of the true span under a FIM model: (span tokens only, span + EOM)."""
    prompt = fim_prompt(tokenizer, problem)
    full = torch.tensor([prompt + [int(t) for t in problem.ids[problem.start : problem.end]] + [EOM_ID]])
    logp = model(full)[0, :-1].float().log_softmax(-1).gather(1, full[0, 1:, None])[:, 0]
    span = -logp[len(prompt) - 1 :]
    return float(span[:-1].sum()), float(span.sum())


def training_masks(tokenizer, tokens: torch.Tensor, valid: torch.Tensor, rng: np.random.Generator,
                   span_prob: float = 0.5) -> torch.Tensor:
    """Masks to train an any-subset model on: per row, with `span_prob` an element span (as the problems draw
    them), else a uniformly random subset of the body tokens at a rate drawn from U(0, 1).

    Args:
        tokens: (B, T) long `BOS ... EOS` rows, right-padded; valid: (B, T) bool, False on padding.

    Returns:
        (B, T) bool, at least one masked token per row (BOS, EOS and padding never).
    """
    from gfx.recipes.iconshop_data import element_span

    masked = torch.zeros_like(valid)
    for row, n in enumerate(valid.sum(1).tolist()):
        ids = tokens[row, :n].numpy()
        span = element_span(ids, tokenizer, rng) if rng.random() < span_prob else None
        if span is not None:
            masked[row, span[0] : span[1]] = True
        else:
            body = rng.random(n - 2) < rng.random()
            body[rng.integers(n - 2)] = True
            masked[row, 1 : n - 1] = torch.from_numpy(body)
    return masked


def insertion_drops(tokenizer, tokens: torch.Tensor, valid: torch.Tensor, rng: np.random.Generator,
                    nothing_prob: float = 0.1) -> torch.Tensor:
    """Tokens to drop to train an insertion model on: `training_masks`, thinned at a rate from U(0, 1) in half
    of the rows (the states between the first insertion and the last), none with `nothing_prob` (stop)."""
    dropped = training_masks(tokenizer, tokens, valid, rng)
    for row in range(len(dropped)):
        if rng.random() < nothing_prob:
            dropped[row] = False
        elif rng.random() < 0.5:
            dropped[row] &= torch.from_numpy(rng.random(dropped.shape[1]) < rng.random())
    return dropped


def insertion_fill(model, problem: InfillProblem, generator: torch.Generator) -> tuple[list[int], int]:
    """A `timed_infills` fill by an insertion model: the span's gap grows from the token before it, until stop."""
    from gfx.backbones.insertion import insert

    slot = problem.start - 1
    return insert(model, torch.from_numpy(problem.context), (slot, slot), EOM_ID, generator)


def any_subset_fill(sampler, model, **kwargs):
    """A `timed_infills` fill from an any-subset sampler (`sample_in_order`, `sample_assd`) and its model."""
    from gfx.svg.tokenizers.vocab import MASK_ID

    def fill(problem: InfillProblem, generator: torch.Generator) -> tuple[list[int], int]:
        tokens = torch.from_numpy(problem.ids)[None]
        ids, passes = sampler(model, tokens, problem.masked, MASK_ID, generator=generator, **kwargs)
        return ids[0].tolist(), passes

    return fill


def rendered(tokenizer, ids: Sequence[int]) -> np.ndarray:
    """(64, 64, 4) uint8 render of a token sequence; blank when even a lenient decode fails."""
    from gfx.svg.core.render import render

    try:
        return render(tokenizer.decode(ids, strict=False), 64)
    except Exception:  # an unreadable sample renders as nothing
        return np.full((64, 64, 4), 255, dtype=np.uint8)


@dataclass(frozen=True)
class InfillScore:
    """Sample quality and cost of one infill method over a set of problems (one sample each)."""

    valid: float  # fraction of spliced icons the path grammar accepts
    mse: float  # mean render MSE (64 px, RGB in [0, 1]) to the original icon
    length_error: float  # mean |filled span length - true span length|, tokens
    passes: float  # mean forward passes per infill
    seconds: float  # mean CPU seconds per infill

    @classmethod
    def of(cls, tokenizer, problems: Sequence[InfillProblem], fillings: Sequence[Sequence[int]],
           passes: Sequence[int], seconds: Sequence[float]) -> InfillScore:
        from gfx.svg.core.metrics import mse

        return cls(
            valid=float(np.mean([tokenizer.is_valid(f) for f in fillings])),
            mse=float(np.mean([mse(rendered(tokenizer, f), rendered(tokenizer, p.ids))
                               for p, f in zip(problems, fillings, strict=True)])),
            length_error=float(np.mean([abs(len(f) - len(p.ids)) for p, f in zip(problems, fillings, strict=True)])),
            passes=float(np.mean(passes)),
            seconds=float(np.mean(seconds)),
        )


def timed_infills(fill, problems: Sequence[InfillProblem], seed: int) -> tuple[list[list[int]], list[int], list[float]]:
    """Run `fill(problem, generator) -> (ids, passes)` on every problem, one seeded generator for all:
    (fillings, passes, CPU seconds) per problem."""
    generator = torch.Generator().manual_seed(seed)
    fillings, passes, seconds = [], [], []
    for problem in problems:
        start = time.process_time()
        ids, n = fill(problem, generator)
        seconds.append(time.process_time() - start)
        fillings.append([int(t) for t in ids])
        passes.append(n)
    return fillings, passes, seconds
