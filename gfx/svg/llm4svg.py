"""LLM4SVG: a causal language model that reads and writes SVG through semantic tokens.

The tokens of `SemanticTokenizer` (elements, attributes, commands, numbers, colour channels) become new tokens
`<|svg:TOKEN|>` of a local transformers causal LM (`gfx.backbones.language.CausalLM`); each new embedding starts as
the mean embedding of the token's English description (LLM4SVG's semantic init). The model follows three
instructions, written in its own text around the SVG tokens (`<svg>` = `<|svg:<bos>|> ... <|svg:<eos>|>`):

    describe:  "Describe this SVG:\\n" <svg> "\\nAnswer:"            -> " Category: name words." <eos>
    draw:      "Draw this description: TEXT\\nSVG:"                   -> <svg>
    edit:      "Edit this SVG: INSTRUCTION\\n" <svg> "\\nSVG:"        -> <svg>

SVG is always written under the semantic tokenizer's grammar over the model's vocabulary (the LM's own text tokens
can never spell an SVG token), so every drawing decodes to a valid SVG, and no path segment ends where it starts
(but for a subpath that is one dot, `M x y L x y`); describing writes text tokens only.

    pipe = LLM4SVG.from_pretrained("models/llm4svg-mini")   # or any local causal-LM directory with a tokenizer
    [icon] = pipe("arrow up", seed=0)                         # list[SVGResult]
    pipe.describe(icon.svg)                                   # e.g. "Arrows: arrow up"
    [mirrored] = pipe.edit(icon.svg, "mirror it horizontally", seed=0)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfx.backbones.constraints import AutomatonConstraint, BanningConstraint, Grammar, added_token_vocab
from gfx.backbones.decoding import generate
from gfx.backbones.language import CausalLM
from gfx.backbones.sampling import GREEDY, SamplingConfig
from gfx.checkpoint import read_pipeline, save_pipeline, saved_class
from gfx.config import ConfigMixin
from gfx.svg.core.document import Document, SVGError
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.result import SVGResult
from gfx.svg.icon_clip import IconCLIP
from gfx.svg.reranking import best_of, candidate_count
from gfx.svg.sampling import sample_drawings
from gfx.svg.tokenizers.semantic import SemanticTokenizer
from gfx.svg.tokenizers.vocab import BOS_ID, EOS_ID

log = logging.getLogger(__name__)

TASKS = ("describe", "draw", "edit")
TEMPLATES = {
    "describe": ("Describe this SVG:\n", "<svg>", "\nAnswer:"),
    "draw": ("Draw this description: {text}\nSVG:",),
    "edit": ("Edit this SVG: {text}\n", "<svg>", "\nSVG:"),
}
"""Each instruction's prompt: text pieces (formatted with the instruction's text) and the input SVG's tokens."""


def token_name(token: str) -> str:
    """The LM token of a semantic token: `<path>` -> `<|svg:<path>|>`."""
    return f"<|svg:{token}|>"


@dataclass
class LLM4SVGConfig(ConfigMixin):
    """Generation settings, saved under "config" in model_index.json.

    Attributes:
        max_svg_tokens: longest SVG in semantic tokens (BOS and EOS included), read or written.
        max_answer_tokens: longest description written.
        temperature, top_p: default sampler settings for drawing and editing.
        draw_temperature: drawing's own temperature (None: `temperature`).
        retries: extra attempts for a drawing that decodes empty.
        candidates: best-of-K drawing: each drawing is the highest-scoring of this many samples by the pipeline's
            `reranker` (an `IconCLIP`; `gfx.svg.reranking`); 1 is plain sampling.
        consensus: weight of the samples' agreement in that choice (0: the reranker alone).
    """

    max_svg_tokens: int = 256
    max_answer_tokens: int = 24
    temperature: float = 0.8
    top_p: float = 0.95
    draw_temperature: float | None = None
    retries: int = 3
    candidates: int = 1
    consensus: float = 0.0


class LLM4SVG:
    """A causal LM with the semantic SVG tokens: describe, draw and edit SVG (see the module doc).

    Args:
        lm: the language model with its text tokenizer; missing semantic tokens are added to it.
        tokenizer: the semantic SVG tokenizer (default config: the 24-unit icon viewBox).
        config: generation settings.
        reranker: the evaluator that picks the best of `config.candidates` drawings (needed when it is > 1).
    """

    def __init__(self, lm: CausalLM, tokenizer: SemanticTokenizer | None = None, config: LLM4SVGConfig | None = None,
                 reranker: IconCLIP | None = None):
        if lm.tokenizer is None:
            raise ValueError("LLM4SVG needs a causal LM with a text tokenizer (tokenizer.json in its directory)")
        if lm.tokenizer.eos_token_id is None:
            raise ValueError("the causal LM's tokenizer has no eos token; LLM4SVG ends descriptions with it")
        self.lm, self.config, self.reranker = lm.eval(), config or LLM4SVGConfig(), reranker
        if self.config.candidates > 1 and reranker is None:
            raise ValueError(f"this LLM4SVG config reranks {self.config.candidates} candidates but has no reranker")
        self.tokenizer = tokenizer or SemanticTokenizer()
        names = [token_name(t) for t in self.tokenizer.vocab]
        have = lm.tokenizer.get_vocab()
        missing = [k for k, name in enumerate(names) if name not in have]
        if missing:
            descriptions = self.tokenizer.descriptions
            lm.add_modality_tokens([names[k] for k in missing],
                                   [descriptions[self.tokenizer.vocab[k]] for k in missing])
        self.token_ids: list[int] = [int(i) for i in lm.tokenizer.convert_tokens_to_ids(names)]
        self._semantic_of = {m: k for k, m in enumerate(self.token_ids)}

    # --- files ----------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> LLM4SVG:
        """A saved LLM4SVG (model_index.json, `lm/`, `tokenizer/`, optionally `reranker/`), or any local transformers
        causal-LM directory with a tokenizer: its semantic tokens are then added (embeddings from their
        descriptions), so it writes valid SVG before it is trained to write good SVG."""
        directory = Path(directory)
        if not is_llm4svg_dir(directory):
            raise FileNotFoundError(f"{directory} is neither a saved LLM4SVG (model_index.json) nor a transformers "
                                    "causal-LM directory (config.json)")
        if saved_class(directory) is None:
            return cls(CausalLM.from_pretrained(directory, device=device))
        files = read_pipeline(directory, cls.__name__, "llm4svg")
        lm = CausalLM.from_pretrained(files.path("lm", "CausalLM"), device=device)
        tokenizer = SemanticTokenizer.load(files.path("tokenizer", "SemanticTokenizer"))
        reranker_path = files.optional_path("reranker", "IconCLIP")
        reranker = None if reranker_path is None else IconCLIP.from_pretrained(reranker_path, device=device)
        return cls(lm, tokenizer, LLM4SVGConfig.from_dict(files.settings), reranker)

    def save_pretrained(self, directory: str | Path) -> Path:
        """model_index.json (with the config), `lm/` (a transformers directory whose tokenizer has the SVG tokens),
        `tokenizer/` (the semantic tokenizer) and, if present, the `reranker/`."""
        return save_pipeline(directory, self, {"lm": self.lm, "tokenizer": self.tokenizer, "reranker": self.reranker},
                             self.config)

    # --- sequences ------------------------------------------------------------------------------
    def svg_ids(self, svg: str | Document) -> list[int]:
        """Semantic token ids `[BOS, ..., EOS]` of an SVG (normalized into the tokenizer's viewBox first); SVGError
        when it is longer than `config.max_svg_tokens`."""
        document = svg if isinstance(svg, Document) else parse_svg(svg)
        document = normalize(document, view_box=self.tokenizer.config.view_box, to_paths=False)
        ids = self.tokenizer.encode(document)
        if len(ids) > self.config.max_svg_tokens:
            raise SVGError(f"the SVG has {len(ids)} semantic tokens; the limit is {self.config.max_svg_tokens} "
                           "(max_svg_tokens)")
        return ids

    def text_ids(self, text: str) -> list[int]:
        """The LM's token ids of plain text (no special tokens)."""
        return list(self.lm.tokenizer(text, add_special_tokens=False)["input_ids"])

    def model_ids(self, semantic_ids: Sequence[int]) -> list[int]:
        """Semantic token ids -> the model's ids."""
        return [self.token_ids[int(t)] for t in semantic_ids]

    def semantic_ids(self, model_ids: Sequence[int]) -> list[int]:
        """The model's ids of SVG tokens -> semantic ids; KeyError on a text token."""
        return [self._semantic_of[int(t)] for t in model_ids]

    def prompt_ids(self, task: str, text: str = "", svg_ids: Sequence[int] | None = None) -> list[int]:
        """The model ids of an instruction's prompt (`TEMPLATES`); `svg_ids`: the input SVG's semantic ids."""
        if task not in TEMPLATES:
            raise KeyError(f"unknown LLM4SVG task {task!r}; valid tasks: {', '.join(TASKS)}")
        out: list[int] = []
        for piece in TEMPLATES[task]:
            if piece == "<svg>":
                if svg_ids is None:
                    raise ValueError(f"the {task} instruction needs an input SVG")
                out += self.model_ids(svg_ids)
            else:
                out += self.text_ids(piece.format(text=text.strip()))
        return out

    def example_ids(self, task: str, text: str = "", svg_ids: Sequence[int] | None = None, answer: str = "",
                    target_ids: Sequence[int] | None = None) -> tuple[list[int], int]:
        """A training example's model ids and its prompt length: the prompt, then the answer (describe:
        " ANSWER." and the LM's eos) or the target SVG's tokens (draw, edit)."""
        prompt = self.prompt_ids(task, text, svg_ids)
        if task == "describe":
            return prompt + self.text_ids(f" {answer.strip()}.") + [self.lm.tokenizer.eos_token_id], len(prompt)
        if target_ids is None:
            raise ValueError(f"a {task} example needs its target SVG")
        return prompt + self.model_ids(target_ids), len(prompt)

    # --- writing SVG ----------------------------------------------------------------------------
    @functools.cached_property
    def _grammar(self) -> Grammar:
        """The semantic grammar (at least one element) over the model's vocabulary, ending at the SVG EOS."""
        size = int(self.lm.config.vocab_size)
        vocab = added_token_vocab(self.tokenizer.vocab, self.token_ids, size)
        return Grammar(vocab, self.tokenizer.grammar(drawable=True), [self.token_ids[EOS_ID]], vocab_size=size)

    def _constraint(self, _prompt_ids) -> BanningConstraint:
        """The grammar, with no zero-length path segments (`SemanticTokenizer.zero_length_segment`, on model ids)."""
        return BanningConstraint(self._grammar.constraint(), self._zero_length_bans)

    def _zero_length_bans(self, history: Sequence[int]) -> list[int]:
        return self.model_ids(self.tokenizer.zero_length_segment(self.semantic_ids(history)))

    def sampling(self, temperature: float | None = None, top_p: float | None = None) -> SamplingConfig:
        c = self.config
        return SamplingConfig(temperature=c.temperature if temperature is None else temperature,
                              top_p=c.top_p if top_p is None else top_p)

    def _write_svg(self, prompt: list[int], n: int, seed: int | None, sampling: SamplingConfig,
                   text: str) -> list[SVGResult]:
        """Sample `n` SVGs after `prompt` (model ids) under the grammar; every result is valid and non-empty."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        row = prompt + [self.token_ids[BOS_ID]]
        return sample_drawings(
            self.lm, self.tokenizer, [row] * n, constraint=self._constraint, prefix=None,
            max_tokens=len(row) + self.config.max_svg_tokens - 1, sampling=sampling, retries=self.config.retries,
            seed=seed, stop=self.token_ids[EOS_ID], splice=lambda ids: self.semantic_ids(ids[len(prompt):]),
            prompt=text, info={"seed": seed, "model": "llm4svg"},
            error=f"the model wrote an empty SVG {self.config.retries + 1} times for {text!r}; try another seed",
        )

    def __call__(self, prompt: str, n: int = 1, seed: int | None = None, temperature: float | None = None,
                 top_p: float | None = None, candidates: int | None = None,
                 consensus: float | None = None) -> list[SVGResult]:
        """Draw `n` SVGs of a description (the draw instruction). `candidates`: samples per drawing the reranker
        chooses from (default `config.candidates`; 1 = plain sampling), drawn in one batch; `consensus`: the weight
        of their agreement (default `config.consensus`; `gfx.svg.reranking`)."""
        k = candidate_count(self.config.candidates if candidates is None else candidates, self.reranker, prompt)
        temperature = self.config.draw_temperature if temperature is None else temperature
        results = self._write_svg(self.prompt_ids("draw", prompt), n * k, seed, self.sampling(temperature, top_p),
                                  prompt)
        if k == 1:
            return results
        return best_of(self.reranker, results, prompt, n, self.config.consensus if consensus is None else consensus)

    def edit(self, svg: str | Document, instruction: str, n: int = 1, seed: int | None = None,
             temperature: float | None = None, top_p: float | None = None) -> list[SVGResult]:
        """Rewrite an SVG as told, e.g. "mirror it horizontally" (the edit instruction); the result is on the
        tokenizer's viewBox. ValueError for an empty instruction, SVGError for an SVG with no visible shape."""
        if not instruction.strip():
            raise ValueError('the edit instruction is empty; say what to change, e.g. "make it red"')
        svg_ids = self.svg_ids(svg)
        if len(svg_ids) <= 2:
            raise SVGError("the SVG has no visible shape to edit; give one that draws something")
        prompt = self.prompt_ids("edit", instruction, svg_ids)
        return self._write_svg(prompt, n, seed, self.sampling(temperature, top_p), instruction)

    # --- reading SVG ----------------------------------------------------------------------------
    @functools.cached_property
    def _text_only(self) -> AutomatonConstraint:
        """Only the LM's own tokens (no SVG token) may be written."""
        size = int(self.lm.config.vocab_size)
        text = sorted(set(range(size)) - set(self.token_ids))
        return AutomatonConstraint(0, lambda state: text, lambda state, token: 0, size)

    def describe(self, svg: str | Document) -> str:
        """A short description of an SVG, greedily decoded (e.g. "Arrows: arrow up")."""
        prompt = torch.tensor([self.prompt_ids("describe", svg_ids=self.svg_ids(svg))])
        eos = self.lm.tokenizer.eos_token_id
        out = generate(self.lm, prompt, max_new_tokens=self.config.max_answer_tokens, sampling=GREEDY,
                       stop_tokens=[eos], constraints=[self._text_only.fork()], pad_id=eos)
        text = self.lm.tokenizer.decode([t for t in out.sequences()[0] if t != eos], skip_special_tokens=True)
        return text.strip().rstrip(".").strip()

    @torch.no_grad()
    def continuation_scores(self, svg: str | Document, texts: Sequence[str], chunk: int = 64) -> np.ndarray:
        """(A,) float64 log-probability of each text continuing the describe prompt of `svg` (e.g. candidate
        answers " Arrows: arrow up."): the model's preference among descriptions."""
        prompt = torch.tensor([self.prompt_ids("describe", svg_ids=self.svg_ids(svg))])
        cache = self.lm.new_cache(1)
        first = torch.log_softmax(self.lm(prompt, cache=cache)[:, -1].float(), -1)  # (1, V)
        scores = np.zeros(len(texts))
        for start in range(0, len(texts), chunk):
            rows = [self.text_ids(t) for t in texts[start : start + chunk]]
            width = max(len(r) for r in rows)
            tokens = torch.zeros(len(rows), width, dtype=torch.long)
            mask = torch.zeros(len(rows), width, dtype=torch.bool)
            for i, r in enumerate(rows):
                tokens[i, : len(r)], mask[i, : len(r)] = torch.tensor(r, dtype=torch.long), True
            branch = cache.fork()
            branch.reorder(torch.zeros(len(rows), dtype=torch.long))
            logp = torch.log_softmax(self.lm(tokens, cache=branch, attention_mask=mask).float(), -1)  # (C, W, V)
            logp = torch.cat([first.expand(len(rows), 1, -1), logp[:, :-1]], 1)
            picked = logp.gather(-1, tokens[..., None])[..., 0].masked_fill(~mask, 0.0)  # (C, W)
            scores[start : start + len(rows)] = picked.sum(1).double().numpy()
        return scores


def is_llm4svg_dir(directory: str | Path) -> bool:
    """True for a directory `LLM4SVG.from_pretrained` reads: a saved LLM4SVG, or a transformers causal-LM directory
    (config.json without a gfx class)."""
    directory = Path(directory)
    name = saved_class(directory)
    return name == "LLM4SVG" or (name is None and (directory / "config.json").is_file())


@functools.lru_cache(maxsize=2)
def load_default(model_dir: str | None = None) -> LLM4SVG:
    """The shipped LLM4SVG model (or `model_dir`, any local causal-LM directory), once per process."""
    from gfx.models import model_path

    return LLM4SVG.from_pretrained(model_dir or model_path("llm4svg"))
