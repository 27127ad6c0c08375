"""Text -> scene layout (SVGCraft's first stage): the objects of a prompt, each with a box on the canvas.

SVGCraft asks a large LM for `(object, [x, y, w, h])` boxes. Here a small decoder-only `Transformer`, trained on
procedural captioned layouts (`gfx.data.scene_layouts`, `gfx train svgcraft-layout`), writes them, and every
layout is decoded under a grammar built for the prompt, so it is always valid: each object of each phrase in
order, exactly the phrase's count of them, each box inside the canvas and at least two lattice steps wide and high.

    layout = SVGCraftLayout.from_pretrained("models/svgcraft-layout")("two trees left of a house", seed=0)
    layout.objects       # [("tree", (x0, y0, x1, y1)), ("tree", ...), ("house", ...)], unit canvas

Sequence: `<bos> words <sep> (<oK> x0 x1 y0 y1)* <eos>`, where `words` are the prompt's (`scene_text`), `<oK>`
names the phrase an object belongs to and the coordinates are lattice tokens `<c0>..<cG>` (x before y, so the
grammar can say x1 > x0 and y1 > y0). Given a local transformers causal-LM directory instead
(`SVGCraftLayout.from_causal_lm`), the layout tokens are added to its vocabulary and the same grammar drives it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from gfx.backbones.constraints import Grammar, added_token_vocab
from gfx.backbones.decoding import generate
from gfx.backbones.sampling import SamplingConfig
from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import read_pipeline, save_pipeline
from gfx.config import ConfigMixin
from gfx.data.scene_layouts import CONCEPTS, COUNT_WORDS, GRID, MAX_OBJECTS, RELATIONS, SIZE_WORDS, Group
from gfx.svg.scene_text import MAX_WORDS, ScenePrompt, parse_scene, slot

SPECIALS = ("<pad>", "<bos>", "<sep>", "<eos>", "<unk>")
PAD_ID, BOS_ID, SEP_ID, EOS_ID, UNK_ID = range(len(SPECIALS))
FILLER_WORDS = ("and", "the", "with", "of", "to", "on", "at", "near", "is", "are", "there", "some", "sky", "ground")
DEFAULT_WORDS = tuple(dict.fromkeys(
    [*CONCEPTS, *COUNT_WORDS, *SIZE_WORDS, *(w for phrasings in RELATIONS.values() for p in phrasings
                                              for w in p.split()), *FILLER_WORDS]))
"""The prompt words a layout model has tokens for (others read as `<unk>`)."""
MIN_SPAN = 2
"""Fewest lattice steps a box spans on each axis: a thinner box is a sliver no drawing fits in (0.04% of the
training boxes are one step thin)."""


@dataclass
class SVGCraftLayoutConfig(ConfigMixin):
    """The layout pipeline's settings and its vocabulary (saved in model_index.json, so they travel).

    Attributes:
        model_preset: `TransformerConfig` preset; d_model, n_layer: its width and depth instead (0: the preset's).
        grid: lattice steps per canvas side.
        words: the prompt words with tokens.
        temperature, top_p: default sampler settings.
    """

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(model_preset="tiny", d_model=0, n_layer=0), "mini": {}}

    model_preset: str = "mini"
    d_model: int = 96
    n_layer: int = 3
    grid: int = GRID
    words: tuple[str, ...] = DEFAULT_WORDS
    temperature: float = 0.2
    top_p: float = 0.9

    @property
    def max_tokens(self) -> int:
        """Longest sequence: prompt words and slots, separators, five tokens per object."""
        return 2 * MAX_WORDS + 3 + 5 * MAX_OBJECTS


class LayoutTokenizer:
    """Ids of layout sequences: specials, slot markers `<o0>..`, lattice coordinates `<c0>..<cG>`, words."""

    def __init__(self, grid: int = GRID, words: tuple[str, ...] = DEFAULT_WORDS):
        self.grid = grid
        self.vocab = [*SPECIALS, *(slot(k) for k in range(MAX_OBJECTS)), *(f"<c{i}>" for i in range(grid + 1)),
                      *words]
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        self.first_slot, self.first_coord = len(SPECIALS), len(SPECIALS) + MAX_OBJECTS

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode_prompt(self, prompt: ScenePrompt) -> list[int]:
        """`<bos> words <sep>`."""
        return [BOS_ID, *(self.ids.get(w, UNK_ID) for w in prompt.words), SEP_ID]

    def encode_layout(self, owners: list[int], boxes: np.ndarray) -> list[int]:
        """`(<oK> x0 x1 y0 y1)* <eos>` of boxes (N, 4) (x0, y0, x1, y1) on the unit canvas, object i in group
        `owners[i]`."""
        out = []
        for owner, box in zip(owners, np.asarray(boxes).reshape(-1, 4), strict=True):
            x0, y0, x1, y1 = (int(round(v * self.grid)) for v in box)
            out += [self.first_slot + owner, *(self.first_coord + v for v in (x0, x1, y0, y1))]
        return [*out, EOS_ID]

    def decode_layout(self, ids: list[int]) -> np.ndarray:
        """(N, 4) float64 boxes (x0, y0, x1, y1) of the complete objects of a layout sequence."""
        body = [i for i in ids if i != EOS_ID]
        boxes = []
        for k in range(0, len(body) - 4, 5):
            x0, x1, y0, y1 = (body[k + j] - self.first_coord for j in range(1, 5))
            boxes.append((x0, y0, x1, y1))
        return np.array(boxes, dtype=np.float64).reshape(-1, 4) / self.grid

    def grammar_ebnf(self, groups: tuple[Group, ...]) -> str:
        """The EBNF of the layouts of `groups`: each group's objects in order, `count` of each, every box inside the
        canvas and at least `MIN_SPAN` lattice steps wide and high."""
        objects = " ".join(f'"{slot(g)}" box' for g, group in enumerate(groups) for _ in range(group.count))
        g, m = self.grid, MIN_SPAN
        spans = " | ".join(f'"<c{i}>" end{i}' for i in range(g - m + 1))
        ends = [f"end{i} ::= " + " | ".join(f'"<c{j}>"' for j in range(i + m, g + 1)) for i in range(g - m + 1)]
        return "\n".join([f"root ::= {objects}", "box ::= span span", f"span ::= {spans}", *ends])


@dataclass(frozen=True)
class SceneLayout:
    """Objects of a prompt with their boxes.

    Attributes:
        prompt: the parsed prompt.
        boxes: (N, 4) float64 (x0, y0, x1, y1) on the unit canvas (origin top left), group 0's objects first.
        tokens: the layout token ids (`<oK>` and coordinates, `<eos>` included).
        info: seed, seconds, which model.
    """

    prompt: ScenePrompt
    boxes: np.ndarray
    tokens: tuple[int, ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def owners(self) -> list[int]:
        """The group of each object."""
        return [g for g, group in enumerate(self.prompt.groups) for _ in range(group.count)]

    @property
    def objects(self) -> list[tuple[str, tuple[float, ...]]]:
        """(phrase, box) per object, e.g. ("small tree", (0.1, 0.5, 0.25, 0.8))."""
        groups = self.prompt.groups
        return [(object_phrase(groups[g]), tuple(float(v) for v in box))
                for g, box in zip(self.owners, self.boxes, strict=True)]


def object_phrase(group: Group) -> str:
    """One object of a group, as its label: "small tree", "house"."""
    return f"{group.size} {group.concept}" if group.size else group.concept


class SVGCraftLayout:
    """Prompt -> `SceneLayout`, sampled under the prompt's layout grammar.

    Args:
        model: a decoder `Transformer` over `LayoutTokenizer` ids, or a `CausalLM` (see `from_causal_lm`).
        config: settings and vocabulary.
        token_ids: layout token id -> the model's id (None: the same; a `CausalLM` has its own).
        prompt_ids: ScenePrompt -> the model's prompt ids (None: `LayoutTokenizer.encode_prompt`).
    """

    def __init__(self, model, config: SVGCraftLayoutConfig, token_ids: list[int] | None = None, prompt_ids=None):
        self.model, self.config = model.eval(), config
        self.tokenizer = LayoutTokenizer(config.grid, tuple(config.words))
        self.token_ids = token_ids
        self.prompt_ids = prompt_ids or self.tokenizer.encode_prompt

    @classmethod
    def build(cls, config: SVGCraftLayoutConfig, **model_overrides) -> SVGCraftLayout:
        """A freshly initialised pipeline (for training)."""
        vocab = LayoutTokenizer(config.grid, tuple(config.words)).vocab_size
        shape = {k: v for k, v in (("d_model", config.d_model), ("n_layer", config.n_layer)) if v}
        model_config = TransformerConfig.from_name(config.model_preset, vocab_size=vocab,
                                                   max_seq_len=config.max_tokens, **{**shape, **model_overrides})
        return cls(Transformer(model_config), config)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """model_index.json (with the config) and `model/` (config.json, model.safetensors)."""
        return save_pipeline(directory, self, {"model": self.model}, self.config, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> SVGCraftLayout:
        """Load a pipeline saved by `save_pretrained` (local only)."""
        files = read_pipeline(directory, cls.__name__, "svgcraft-layout")
        model = Transformer.from_pretrained(files.path("model", "Transformer"), device=device)
        return cls(model, SVGCraftLayoutConfig.from_dict(files.settings))

    @classmethod
    def from_causal_lm(cls, directory: str | Path, config: SVGCraftLayoutConfig | None = None) -> SVGCraftLayout:
        """A local transformers causal-LM directory (with its tokenizer) as the layout model: the layout tokens
        become new tokens of its vocabulary (embeddings from their descriptions), the prompt is its own text."""
        from gfx.backbones.language import CausalLM

        config = config or SVGCraftLayoutConfig()
        lm = CausalLM.from_pretrained(directory)
        if lm.tokenizer is None:
            raise ValueError(f"{directory} has no tokenizer; the layout grammar needs one to read the prompt")
        tokenizer = LayoutTokenizer(config.grid, tuple(config.words))
        layout_tokens = tokenizer.vocab[: tokenizer.first_coord + tokenizer.grid + 1]
        descriptions = [*("padding", "begin", "separator", "end", "unknown"),
                        *(f"object {k}" for k in range(MAX_OBJECTS)), *(f"coordinate {i}" for i in range(config.grid + 1))]
        added = lm.add_modality_tokens([f"<layout_{t.strip('<>')}>" for t in layout_tokens], descriptions)

        def prompt_ids(prompt: ScenePrompt) -> list[int]:
            text = f"Scene: {' '.join(prompt.words)}\nLayout:"
            return lm.tokenizer(text, add_special_tokens=True)["input_ids"]

        return cls(lm, config, token_ids=added, prompt_ids=prompt_ids)

    # --- sampling -------------------------------------------------------------------------------
    @functools.lru_cache(maxsize=64)  # noqa: B019 (a pipeline lives as long as the process)
    def grammar(self, groups: tuple[Group, ...]) -> Grammar:
        """The compiled layout grammar of `groups` over the model's vocabulary."""
        vocab_size = self._vocab_size()
        if self.token_ids is None:
            vocab = self.tokenizer.vocab + [f"#{i}#" for i in range(len(self.tokenizer.vocab), vocab_size)]
        else:  # the model's own tokens can never spell a layout token
            vocab = added_token_vocab(self.tokenizer.vocab[: len(self.token_ids)], self.token_ids, vocab_size)
        return Grammar(vocab, self.tokenizer.grammar_ebnf(groups), [self._model_id(EOS_ID)], vocab_size=vocab_size)

    def _vocab_size(self) -> int:
        config = self.model.config
        return int(config.vocab_size if self.token_ids is None else max(config.vocab_size, max(self.token_ids) + 1))

    def _model_id(self, layout_id: int) -> int:
        return layout_id if self.token_ids is None else self.token_ids[layout_id]

    def __call__(self, prompt: str | ScenePrompt, seed: int | None = None, temperature: float | None = None,
                 top_p: float | None = None) -> SceneLayout:
        """The layout of `prompt` (ScenePromptError when it names no known object)."""
        import time

        start = time.perf_counter()
        parsed = prompt if isinstance(prompt, ScenePrompt) else parse_scene(prompt)
        sampling = SamplingConfig(temperature=self.config.temperature if temperature is None else temperature,
                                  top_p=self.config.top_p if top_p is None else top_p)
        tokens = torch.tensor([self.prompt_ids(parsed)])
        out = generate(self.model, tokens, max_new_tokens=5 * parsed.object_count + 1, sampling=sampling,
                       stop_tokens=[self._model_id(EOS_ID)], constraints=[self.grammar(parsed.groups).constraint()],
                       pad_id=self._model_id(PAD_ID), seed=seed)
        new = out.sequences()[0]
        if self.token_ids is not None:
            back = {m: i for i, m in enumerate(self.token_ids)}
            new = [back[t] for t in new]
        boxes = self.tokenizer.decode_layout(new)
        info = {"seed": seed, "seconds": time.perf_counter() - start, "model": type(self.model).__name__}
        return SceneLayout(parsed, boxes, tuple(new), info)


@functools.lru_cache(maxsize=2)
def load_default(model_dir: str | None = None) -> SVGCraftLayout:
    """The shipped layout model (or `model_dir`: a saved `SVGCraftLayout` or a causal-LM directory), once per
    process."""
    from gfx.models import model_path

    directory = Path(model_dir) if model_dir else model_path("svgcraft-layout")
    if (directory / "config.json").is_file() and not (directory / "model_index.json").is_file():
        return SVGCraftLayout.from_causal_lm(directory)
    return SVGCraftLayout.from_pretrained(directory)
