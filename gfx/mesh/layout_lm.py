"""FullPart stage (a) as language modelling: text -> a sequence of labelled part boxes, decoded under a grammar.

A layout is written as tokens (`LayoutTokenizer`):

    BOS category (label cx cy cz sx sy sz)* EOS

with one token range per field: the category, the part label, the box centre per axis (uniform bins over
[-1, 1]) and the box size per axis (log-spaced bins, so a 3 cm leg is as precise, relatively, as a 1 m
seat). Parts come in the dataset's order (largest box half-surface-area first). The model is the shared
decoder (`gfx.backbones.Transformer`) with the prompt's MiniLM token states as prefix, so counts ("four
legs", "three slats") reach it word by word. Decoding runs `gfx.backbones.decoding.generate` under an
automaton (`LayoutTokenizer.constraint`) that keeps the grammar, at most `max_parts` parts, and only the
labels the training data shows for the chosen category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from gfx.backbones.constraints import AutomatonConstraint
from gfx.backbones.transformer import Transformer, TransformerConfig, next_token_loss
from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin

PAD, BOS, EOS = 0, 1, 2
TEMPERATURE = 0.4
"""Default layout sampling temperature: on 48 test captions 0.4 gave exact part count 0.81 and label accuracy
0.90 against 0.79 / 0.87 at 0.7, and keeps layouts varied across seeds (0, greedy, gives one layout per prompt)."""


NUMBERS = {w: k for k, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split())}
COUNT_WINDOW = 3
"""A number word counts the first label noun among the next `COUNT_WINDOW` words ("four splayed square legs")."""


def singular(word: str) -> list[str]:
    """Candidate singular forms of an English plural ("shelves" -> shelf, "boxes" -> box, "legs" -> leg)."""
    forms = [word]
    if word.endswith("ves"):
        forms.append(word[:-3] + "f")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return forms


def prompt_counts(prompt: str, labels: tuple[str, ...]) -> dict[int, int]:
    """Part counts a prompt states: {label id: count} for "four legs", "2 pillows", "three jet engines"."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    index = {label.replace("_", " "): i for i, label in enumerate(labels)}
    counts: dict[int, int] = {}
    for k, word in enumerate(words):
        number = NUMBERS.get(word, int(word) if word.isdigit() else None)
        if number is None:
            continue
        for j in range(k + 1, min(k + 1 + COUNT_WINDOW, len(words))):
            pair = f"{words[j - 1]} {words[j]}" if j > k + 1 else ""
            found = next((index[f] for w in (pair, words[j]) if w for f in singular(w) if f in index), None)
            if found is not None:
                counts.setdefault(found, number)
                break
    return counts


@dataclass
class LayoutTokenizer:
    """Layouts <-> token ids.

    Attributes:
        categories: category names; labels: part label names.
        center_bins: bins per axis over [-1, 1]; size_bins: log-spaced bins per axis over [min_size, 2].
        max_parts: most parts a layout may have.
        category_labels: per category, the label ids allowed (empty: all).
    """

    categories: tuple[str, ...]
    labels: tuple[str, ...]
    center_bins: int = 192
    size_bins: int = 96
    min_size: float = 0.004
    max_parts: int = 16
    category_labels: tuple[tuple[int, ...], ...] = ()

    @property
    def category_start(self) -> int:
        return 3

    @property
    def label_start(self) -> int:
        return self.category_start + len(self.categories)

    def field_start(self, j: int) -> int:
        """First id of box field j (0-2 centre x, y, z; 3-5 size x, y, z)."""
        start = self.label_start + len(self.labels)
        return start + min(j, 3) * self.center_bins + max(j - 3, 0) * self.size_bins

    def field_bins(self, j: int) -> int:
        return self.center_bins if j < 3 else self.size_bins

    @property
    def vocab_size(self) -> int:
        return self.field_start(5) + self.size_bins

    def size_edges(self) -> np.ndarray:
        """(size_bins,) bin centres of the log-spaced sizes."""
        return np.geomspace(self.min_size, 2.0, self.size_bins)

    def quantize(self, boxes: np.ndarray) -> np.ndarray:
        """(K, 6) [center, size] -> (K, 6) bin indices."""
        boxes = np.asarray(boxes, np.float64)
        n = self.center_bins
        centers = np.clip(np.floor((boxes[:, :3] + 1) / 2 * n), 0, n - 1)
        logs = np.log(np.clip(boxes[:, 3:], self.min_size, 2.0))
        grid = np.log(self.size_edges())
        sizes = np.abs(logs[..., None] - grid).argmin(-1)
        return np.concatenate([centers, sizes], axis=1).astype(np.int64)

    def dequantize(self, bins: np.ndarray) -> np.ndarray:
        """(K, 6) bin indices -> (K, 6) float32 boxes (bin centres)."""
        bins = np.asarray(bins, np.int64).reshape(-1, 6)
        centers = (bins[:, :3] + 0.5) / self.center_bins * 2 - 1
        sizes = self.size_edges()[bins[:, 3:]]
        return np.concatenate([centers, sizes], axis=1).astype(np.float32)

    def encode(self, category: int, boxes: np.ndarray, labels: np.ndarray) -> list[int]:
        """The token ids of one layout, BOS and EOS included."""
        ids = [BOS, self.category_start + int(category)]
        for label, bins in zip(labels, self.quantize(boxes), strict=True):
            ids.append(self.label_start + int(label))
            ids += [self.field_start(j) + int(b) for j, b in enumerate(bins)]
        return ids + [EOS]

    def decode(self, ids: list[int]) -> tuple[int, np.ndarray, np.ndarray]:
        """Token ids (after BOS) -> (category, (K, 6) boxes, (K,) label ids); stops at EOS or a broken part."""
        ids = [i for i in ids if i != BOS]
        category = ids[0] - self.category_start if ids else -1
        labels, bins = [], []
        for k in range(1, len(ids) - 6, 7):
            part = ids[k : k + 7]
            if not self.label_start <= part[0] < self.label_start + len(self.labels):
                break
            fields = [t - self.field_start(j) for j, t in enumerate(part[1:])]
            if any(not 0 <= f < self.field_bins(j) for j, f in enumerate(fields)):
                break
            labels.append(part[0] - self.label_start)
            bins.append(fields)
        boxes = self.dequantize(np.array(bins)) if bins else np.zeros((0, 6), np.float32)
        return int(category), boxes, np.array(labels, np.int64)

    def constraint(self, counts: dict[int, int] | None = None) -> AutomatonConstraint:
        """The layout grammar as an automaton; `counts` ({label id: n}, e.g. from `prompt_counts`) asks for exactly
        n parts of those labels where the chosen category has them. States: ("category",),
        ("label", category, parts, made), ("field", category, parts, made, j), ("done",), where `made` counts the
        parts of each asked label so far."""
        asked = tuple(sorted((counts or {}).items()))
        return AutomatonConstraint(("category",), lambda state: self._allowed(state, asked),
                                   lambda state, token: self._step(state, token, asked), self.vocab_size,
                                   final=lambda state: state[0] == "done")

    def _vocab(self, category: int):
        """The label ids a category's layouts may use."""
        return self.category_labels[category] if self.category_labels else range(len(self.labels))

    def _asked(self, category: int, asked: tuple) -> tuple:
        """The asked (label, n) this category can make, trimmed to fit `max_parts`."""
        vocab = self._vocab(category)
        kept, total = [], 0
        for label, n in asked:
            if label in vocab and total + n <= self.max_parts:
                kept.append((label, n))
                total += n
        return tuple(kept)

    def _allowed(self, state, asked: tuple = ()) -> list[int]:
        kind = state[0]
        if kind == "category":
            return [self.category_start + c for c in range(len(self.categories))]
        if kind == "label":
            _, category, parts, made = state
            wants = self._asked(category, asked)
            missing = sum(n - m for (_, n), m in zip(wants, made, strict=True))
            full = {label for (label, n), m in zip(wants, made, strict=True) if m >= n}
            room = self.max_parts - parts
            ids = []
            if room > missing:  # a free part still leaves room for every missing asked one
                ids = [self.label_start + i for i in self._vocab(category) if i not in full]
            elif room > 0:
                ids = [self.label_start + label for (label, n), m in zip(wants, made, strict=True) if m < n]
            return ids + ([EOS] if parts and not missing else [])
        if kind == "field":
            j = state[4]
            return list(range(self.field_start(j), self.field_start(j) + self.field_bins(j)))
        return []

    def _step(self, state, token: int, asked: tuple = ()):
        kind = state[0]
        if kind == "category":
            category = token - self.category_start
            return ("label", category, 0, (0,) * len(self._asked(category, asked)))
        if kind == "label":
            if token == EOS:
                return ("done",)
            _, category, parts, made = state
            label = token - self.label_start
            made = tuple(m + (label == w) for (w, _), m in zip(self._asked(category, asked), made, strict=True))
            return ("field", category, parts, made, 0)
        _, category, parts, made, j = state
        return ("label", category, parts + 1, made) if j == 5 else ("field", category, parts, made, j + 1)


@dataclass
class LayoutLMConfig(ConfigMixin):
    """A `LayoutLM`: its tokenizer's settings and the decoder's shape. Presets: tiny (tests), mini."""

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(d_model=32, n_layer=1, n_head=2, center_bins=32, size_bins=16),
        "mini": dict(),
    }

    categories: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    category_labels: tuple[tuple[int, ...], ...] = ()
    center_bins: int = 192
    size_bins: int = 96
    max_parts: int = 16
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    text_dim: int = 384
    max_prompt_tokens: int = 48
    cond_drop: float = 0.1
    tokenizer_fields: ClassVar[tuple[str, ...]] = (
        "categories", "labels", "center_bins", "size_bins", "max_parts", "category_labels",
    )

    def tokenizer(self) -> LayoutTokenizer:
        return LayoutTokenizer(**{k: getattr(self, k) for k in self.tokenizer_fields})


class LayoutLM(nn.Module, PretrainedMixin):
    """Prompt -> part layouts: the shared decoder over layout tokens, prefixed by MiniLM token states."""

    config_class = LayoutLMConfig

    def __init__(self, config: LayoutLMConfig):
        super().__init__()
        self.config = config
        self.tokenizer = config.tokenizer()
        vocab = -(-self.tokenizer.vocab_size // 32) * 32
        self.lm = Transformer(TransformerConfig(
            vocab_size=vocab, d_model=config.d_model, n_layer=config.n_layer, n_head=config.n_head,
            max_seq_len=config.max_prompt_tokens + 2 + 7 * config.max_parts + 1, prefix_dim=config.text_dim,
        ))  # fmt: skip

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Next-token loss over the layout tokens.

        batch: "tokens" (B, T) long (PAD after EOS), "prefix" (B, P, 384), "prefix_mask" (B, P) bool; rows
        whose prefix is dropped (probability `cond_drop`, in training) learn the unconditional layout.
        """
        tokens, prefix_mask = batch["tokens"], batch["prefix_mask"]
        if self.training and self.config.cond_drop:
            keep = torch.rand(len(tokens), device=tokens.device) >= self.config.cond_drop
            prefix_mask = prefix_mask & keep[:, None]
        valid = tokens != PAD
        logits = self.lm(tokens, prefix=batch["prefix"], prefix_mask=prefix_mask, attention_mask=valid)
        return next_token_loss(logits, tokens, valid & (torch.arange(tokens.shape[1]) > 0).to(tokens.device))

    @torch.no_grad()
    def sample(self, prompts: list[str], *, temperature: float = TEMPERATURE, top_p: float = 0.95,
               guidance: float = 1.0, generator: torch.Generator | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """One layout per prompt: (category name, (K, 6) float32 boxes, (K,) label ids)."""
        from gfx.backbones.decoding import generate
        from gfx.backbones.guidance import Guidance
        from gfx.backbones.sampling import SamplingConfig

        device = next(self.parameters()).device
        prefix, mask = layout_prompt_states(prompts, self.config.max_prompt_tokens)
        bos = torch.full((len(prompts), 1), BOS, dtype=torch.long, device=device)
        out = generate(
            self.lm, bos, max_new_tokens=2 + 7 * self.config.max_parts,
            sampling=SamplingConfig(temperature=temperature, top_p=top_p),
            prefix=prefix.to(device), prefix_mask=mask.to(device), guidance=Guidance(guidance),
            stop_tokens=[EOS], pad_id=PAD,
            constraints=[self.tokenizer.constraint(prompt_counts(p, self.tokenizer.labels)) for p in prompts],
            generator=generator,
        )  # fmt: skip
        layouts = []
        for ids in out.sequences():
            category, boxes, labels = self.tokenizer.decode(ids)
            layouts.append((self.tokenizer.categories[category], boxes, labels))
        return layouts


def layout_prompt_states(prompts: list[str], max_tokens: int) -> tuple[Tensor, Tensor]:
    """MiniLM token states of prompts, up to `max_tokens` word pieces: (B, P, 384), (B, P) bool."""
    from gfx.backbones.text_encoder import prompt_prefix

    return prompt_prefix(prompts, max_tokens=max_tokens)


def layout_batch(tokenizer: LayoutTokenizer, categories, boxes_list, labels_list,
                 prompt_states: list[Tensor]) -> dict[str, Tensor]:
    """A padded training batch of layouts from the prompts' token states ((T_i, 384) each, real tokens only):
    "tokens" (B, T), "prefix" (B, P, 384), "prefix_mask" (B, P)."""
    rows = [tokenizer.encode(c, b, lab) for c, b, lab in zip(categories, boxes_list, labels_list, strict=True)]
    tokens = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row)
    prefix = torch.zeros(len(rows), max(len(s) for s in prompt_states), prompt_states[0].shape[-1])
    mask = torch.zeros(prefix.shape[:2], dtype=torch.bool)
    for i, states in enumerate(prompt_states):
        prefix[i, : len(states)], mask[i, : len(states)] = states.float(), True
    return {"tokens": tokens, "prefix": prefix, "prefix_mask": mask}


def category_labels(categories: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
                    n_categories: int) -> tuple[tuple[int, ...], ...]:
    """Per category, the sorted label ids its objects use (from training arrays)."""
    seen: list[set[int]] = [set() for _ in range(n_categories)]
    for n, c in enumerate(categories):
        seen[int(c)].update(int(x) for x in labels[offsets[n] : offsets[n + 1]])
    return tuple(tuple(sorted(s)) for s in seen)


__all__ = ["LayoutLM", "LayoutLMConfig", "LayoutTokenizer", "category_labels", "layout_batch", "prompt_counts"]
