"""Training data for IconShop: corpus icons as token sequences, prompts, fill-in-the-middle, batches.

Per sample (IconShop's recipe, docs/papers.md):
1. the icon's PathTokenizer ids, `BOS ... EOS`;
2. with `translate_prob`, a random shift of every point by whole lattice cells that keeps it on the lattice;
3. a prompt: `empty_prompt_prob` empty (unconditional, for classifier-free guidance), else a random non-empty
   subset of the record's keywords (name words, tags, category), shuffled and joined by ", ";
4. with `fim_prob`, one span of whole path elements moved to the end: `BOS pre MASK post EOS MASK span EOM`.
Batches group icons of similar length, pad on the right, and carry MiniLM token states of the prompts
as the prefix (an empty prompt gets a fully masked prefix, which `generate` uses for the unguided branch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gfx.backbones.text_encoder import prompt_prefix
from gfx.recipes.batching import Batches, by_size
from gfx.svg.tokenizers.path import PathTokenizer
from gfx.svg.tokenizers.vocab import PAD_ID


@dataclass(frozen=True)
class IconSample:
    """One tokenized corpus icon: ids (L,) int64 `BOS ... EOS`, its prompt keywords and, for retrieval
    augmentation, the token ids of its candidate references (icons of other concepts, nearest first)."""

    ids: np.ndarray
    keywords: tuple[str, ...]
    references: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities of the per-sample transforms."""

    empty_prompt_prob: float = 0.1
    fim_prob: float = 0.5
    translate_prob: float = 0.5
    translate_max: int = 8  # lattice cells


def keywords_of(record) -> tuple[str, ...]:
    """A corpus record's distinct keywords: name words first, then tags, then category."""
    from gfx.data.icons import words

    out: dict[str, None] = {}
    for k in (words(record.name), *record.tags, record.category or ""):
        k = k.strip().lower()
        if k:
            out.setdefault(k, None)
    return tuple(out)


def encode_records(records: Sequence, tokenizer: PathTokenizer) -> list[np.ndarray]:
    """Each normalized corpus record's token ids, (L,) int64 `BOS ... EOS`."""
    from gfx.svg.core.parse import parse_svg

    return [np.asarray(tokenizer.encode(parse_svg(r.svg)), dtype=np.int64) for r in records]


def tokenize_records(records: Sequence, tokenizer: PathTokenizer, max_tokens: int,
                     neighbours: np.ndarray | None = None, pool: Sequence[np.ndarray] | None = None,
                     max_reference_tokens: int = 0) -> list[IconSample]:
    """Encode normalized corpus records; icons longer than `max_tokens` are left out.

    Args:
        neighbours: (N, K) rows of `pool` to offer record i as references (`neighbour_table`); those longer
            than `max_reference_tokens` are skipped.
        pool: the token ids the neighbour rows index (default: the records' own).
    """
    encoded = encode_records(records, tokenizer)
    pool = encoded if pool is None else pool
    samples = []
    for i, (record, ids) in enumerate(zip(records, encoded, strict=True)):
        if len(ids) <= max_tokens:
            refs = () if neighbours is None else tuple(
                pool[j] for j in neighbours[i] if len(pool[j]) <= max_reference_tokens)
            samples.append(IconSample(ids, keywords_of(record), refs))
    return samples


def sample_prompt(keywords: Sequence[str], rng: np.random.Generator, empty_prob: float) -> str:
    """An empty prompt with `empty_prob`, else a shuffled random non-empty subset of `keywords`."""
    if not keywords or rng.random() < empty_prob:
        return ""
    k = int(rng.integers(1, len(keywords) + 1))
    chosen = rng.choice(len(keywords), size=k, replace=False)
    return ", ".join(keywords[i] for i in chosen)


def translate(ids: np.ndarray, tokenizer: PathTokenizer, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Shift every point token by one random (dx, dy) in lattice cells that keeps all points on the lattice."""
    xy = tokenizer.point_xy(ids)
    is_point = xy[:, 0] >= 0
    if not is_point.any():
        return ids
    pts = xy[is_point]
    g = tokenizer.lattice
    lo = np.maximum(-pts.min(0), -max_shift)
    hi = np.minimum(g - 1 - pts.max(0), max_shift)
    if (lo > hi).any():
        return ids
    dx, dy = (int(rng.integers(lo[i], hi[i] + 1)) for i in range(2))
    out = ids.copy()
    out[is_point] += dx + dy * g
    return out


def element_span(ids: np.ndarray, tokenizer: PathTokenizer, rng: np.random.Generator) -> tuple[int, int] | None:
    """A random non-empty span [start, end) of whole path elements of `ids` (`BOS ... EOS`); None without one."""
    bounds = [*tokenizer.element_starts(ids), len(ids) - 1]  # element starts and the EOS position
    if len(bounds) < 2:
        return None
    i, j = sorted(rng.choice(len(bounds), size=2, replace=False))
    return bounds[i], bounds[j]


def fim_permute(ids: np.ndarray, tokenizer: PathTokenizer, rng: np.random.Generator) -> np.ndarray:
    """Move one random span of whole path elements to the end (IconShop's causal masking)."""
    span = element_span(ids, tokenizer, rng)
    return ids if span is None else np.asarray(tokenizer.fim_split(ids, *span), dtype=np.int64)


class IconBatches(Batches):
    """Seeded `Batches` of augmented icons for `gfx.train.train`, grouped by length (windows of 50 batches).

    Each batch is a dict: "tokens" (B, T) long right-padded with PAD (a row is its references, then the icon),
    "attention_mask" (B, T) bool, "loss_mask" (B, T) bool (the icon's tokens), "prefix" (B, P, 384) MiniLM
    token states of the prompts, "prefix_mask" (B, P) bool (all False for empty prompts).

    Args:
        samples: tokenized icons.
        tokenizer: the tokenizer they were encoded with.
        batch_size: icons per batch (the last batch of an epoch may be shorter).
        augment: transform probabilities; None disables all of them and keeps the corpus order (validation).
        seed: base seed (see `Batches`).
        text_encoder: object with `token_states(prompts) -> (states, mask)`; default the shared MiniLM.
        references: retrieved icons placed before each icon (`IconSample.references`; 0 = plain IconShop).
    """

    def __init__(self, samples, tokenizer, batch_size, augment: AugmentConfig | None, seed=0, text_encoder=None,
                 references: int = 0):
        self.samples, self.tokenizer, self.augment = list(samples), tokenizer, augment
        self.references = references
        self._text_encoder = text_encoder
        if not self.samples:
            raise ValueError("no icons to train on: the corpus split is empty or every icon exceeds max_tokens")
        lengths = [len(s.ids) for s in self.samples]
        super().__init__(len(self.samples), batch_size, self._collate_indices, seed=seed,
                         order=by_size(lengths, window=50), shuffle=augment is not None, drop_last=False)

    def _collate_indices(self, index: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        return self.collate([self.samples[i] for i in index], rng)

    def collate(self, samples: Sequence[IconSample], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Augment and pad a list of samples into a batch dict (see the class docstring)."""
        a = self.augment
        seqs, contexts, prompts = [], [], []
        for s in samples:
            ids = s.ids
            if a and rng.random() < a.translate_prob:
                ids = translate(ids, self.tokenizer, rng, a.translate_max)
            if a and rng.random() < a.fim_prob:
                ids = fim_permute(ids, self.tokenizer, rng)
            seqs.append(ids)
            contexts.append(self.context(s, rng if a else None))
            prompts.append(sample_prompt(s.keywords, rng, a.empty_prompt_prob) if a else ", ".join(s.keywords))
        width = max(len(c) + len(s) for c, s in zip(contexts, seqs, strict=True))
        tokens = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
        loss_mask = torch.zeros((len(seqs), width), dtype=torch.bool)
        for i, (context, ids) in enumerate(zip(contexts, seqs, strict=True)):
            tokens[i, : len(context) + len(ids)] = torch.from_numpy(np.concatenate([context, ids]))
            loss_mask[i, len(context) : len(context) + len(ids)] = True  # references are read, never predicted
        prefix, prefix_mask = prompt_prefix(prompts, self._text_encoder, warn=False)
        return {"tokens": tokens, "attention_mask": tokens != PAD_ID, "loss_mask": loss_mask, "prefix": prefix,
                "prefix_mask": prefix_mask}

    def context(self, sample: IconSample, rng: np.random.Generator | None) -> np.ndarray:
        """The references placed before `sample`: `self.references` of its candidates, nearest last, as
        `IconShop.references` places them; training (`rng`) draws them from the nearest `2 * references`."""
        k = min(self.references, len(sample.references))
        if not k:
            return np.zeros(0, dtype=np.int64)
        pool = sample.references[: 2 * self.references]
        picked = sorted(rng.choice(len(pool), size=k, replace=False)) if rng is not None else range(k)
        return np.concatenate([pool[j] for j in reversed(list(picked))])
