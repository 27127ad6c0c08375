"""Text -> icon (IconShop): an autoregressive transformer over PathTokenizer tokens.

The prompt's MiniLM token states are the prefix of a decoder-only `Transformer`; point tokens also get
x and y embeddings (IconShop's coordinate embeddings). Generation always runs under the tokenizer's
grammar, so every output decodes to a valid SVG. The same model completes a partial icon and, through
fill-in-the-middle training, replaces a span of paths. A style rule on top of the grammar keeps the new paths
in one drawing style (`gfx.svg.icon_style`): "outline" (the default: strokes of the corpus width, no fills),
"filled", or None (whatever the model samples).

    pipe = IconShop.from_pretrained("models/iconshop-mini")
    results = pipe("house, home", n=4, seed=0)        # list[SVGResult], outline icons
    results[0].svg
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from gfx.backbones.constraints import BanningConstraint, Grammar
from gfx.backbones.sampling import SamplingConfig
from gfx.backbones.text_encoder import prompt_prefix
from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import read_pipeline, save_pipeline
from gfx.config import ConfigMixin
from gfx.svg.core.document import Document, SVGError
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.result import SVGResult
from gfx.svg.icon_clip import IconCLIP
from gfx.svg.icon_retrieval import IconIndex
from gfx.svg.icon_style import StyleBans, check_style
from gfx.svg.reranking import best_of, candidate_count
from gfx.svg.sampling import sample_drawings
from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig
from gfx.svg.tokenizers.registry import load_tokenizer
from gfx.svg.tokenizers.vocab import BOS_ID, EOM_ID, EOS_ID, MASK_ID

log = logging.getLogger(__name__)

TEXT_WIDTH = 384  # MiniLM


@dataclass
class IconShopConfig(ConfigMixin):
    """The pipeline's own settings, saved under "config" in its model_index.json.

    Attributes:
        model_preset: `TransformerConfig` preset the model is built from.
        grid: tokenizer lattice values per axis over the 24-unit viewBox.
        max_tokens: longest icon in tokens (BOS and EOS included); also the generation budget.
        max_prompt_tokens: prompts are truncated to this many MiniLM word pieces.
        guidance: default classifier-free guidance scale (1 = off).
        temperature, top_p: default sampler settings.
        retries: how often a row that decodes to an empty icon is sampled again.
        use_cache: decode with the KV cache (False recomputes every step: a reference for benches).
        references: retrieval augmentation: this many icons of the pipeline's `IconIndex` whose prompts are
            nearest to the prompt are placed before the icon (each `BOS ... EOS`) for the model to compose
            from; 0 is plain IconShop.
        max_reference_tokens: longer retrieved icons are skipped for the next nearest.
        candidates: best-of-K reranking: each icon is the highest-scoring of this many samples by the
            pipeline's `reranker` (an `IconCLIP` trained without the evaluated concepts); 1 is plain sampling.
        consensus: weight of the samples' agreement in reranking (`gfx.svg.reranking.rerank_scores`): 0 ranks by
            the reranker alone; 1 weighs agreement as much as the reranker.
    """

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(model_preset="tiny", grid=25, max_tokens=192),
        "mini": dict(model_preset="mini", grid=97, max_tokens=320),
        "small": dict(model_preset="small", grid=97, max_tokens=384),
    }

    model_preset: str = "mini"
    grid: int = 97
    max_tokens: int = 320
    max_prompt_tokens: int = 32
    guidance: float = 2.0
    temperature: float = 1.0
    top_p: float = 0.5  # IconShop samples with nucleus p = 0.5
    retries: int = 2
    use_cache: bool = True
    references: int = 0
    max_reference_tokens: int = 160
    candidates: int = 1
    consensus: float = 0.0

    @property
    def max_context_tokens(self) -> int:
        """Longest sequence the model reads: prompt prefix, references and the icon."""
        return self.max_tokens + self.max_prompt_tokens + self.references * self.max_reference_tokens + 8


class IconShop:
    """Text -> icon pipeline: tokenizer + transformer + grammar-constrained sampling.

    Args:
        model: the transformer (prefix_dim = 384, x/y extra embeddings).
        tokenizer: the PathTokenizer the model was trained on.
        config: pipeline settings.
        index: the icons retrieval draws references from (needed when `config.references` > 0).
        reranker: the evaluator that picks the best of `config.candidates` samples (needed when it is > 1).
    """

    def __init__(self, model: Transformer, tokenizer: PathTokenizer, config: IconShopConfig,
                 index: IconIndex | None = None, reranker: IconCLIP | None = None):
        if config.references and index is None:
            raise ValueError(f"this IconShop config uses {config.references} references but has no IconIndex")
        if config.candidates > 1 and reranker is None:
            raise ValueError(f"this IconShop config reranks {config.candidates} candidates but has no reranker")
        self.model, self.tokenizer, self.config, self.index = model.eval(), tokenizer, config, index
        self.reranker = reranker
        self._reference_ids: dict[int, list[int]] = {}  # index row -> its token ids, tokenized on first use
        self._style_bans: dict[str, StyleBans] = {}

    # --- construction and files ---------------------------------------------------------------
    @classmethod
    def build(cls, config: IconShopConfig, index: IconIndex | None = None, reranker: IconCLIP | None = None,
              **model_overrides) -> IconShop:
        """A freshly initialised pipeline for `config` (for training), reading references from `index` and
        reranking with `reranker`."""
        tokenizer = PathTokenizer(PathTokenizerConfig(grid=config.grid))
        g = tokenizer.lattice
        model_config = TransformerConfig.from_name(
            config.model_preset,
            vocab_size=tokenizer.vocab_size,
            prefix_dim=TEXT_WIDTH,
            extra_vocab_sizes=(g, g),
            max_seq_len=config.max_context_tokens,
            **model_overrides,
        )
        model = Transformer(model_config)
        model.set_token_extra_ids(torch.from_numpy(tokenizer.point_xy(np.arange(tokenizer.vocab_size))))
        return cls(model, tokenizer, config, index, reranker)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """Write model_index.json, `model/` (config.json, model.safetensors, fp16 by default),
        `tokenizer/tokenizer.json` and, if present, the retrieval `index/` and the `reranker/`."""
        components = {"model": self.model, "tokenizer": self.tokenizer, "index": self.index,
                      "reranker": self.reranker}
        return save_pipeline(directory, self, components, self.config, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> IconShop:
        """Load a pipeline saved by `save_pretrained` (local only; the pre-model_index layout loads too)."""
        files = read_pipeline(directory, cls.__name__, "iconshop")
        model = Transformer.from_pretrained(files.path("model", "Transformer"), device=device)
        tokenizer = load_tokenizer(files.path("tokenizer", "PathTokenizer"))
        index_path = files.optional_path("index", "IconIndex")
        index = None if index_path is None else IconIndex.from_pretrained(index_path)
        reranker_path = files.optional_path("reranker", "IconCLIP")
        reranker = None if reranker_path is None else IconCLIP.from_pretrained(reranker_path, device=device)
        return cls(model, tokenizer, IconShopConfig.from_dict(files.settings), index, reranker)

    # --- generation -----------------------------------------------------------------------------
    @functools.cached_property
    def _grammars(self) -> dict[int, Grammar]:
        """Compiled grammars of one or more path elements, ending at EOS (whole icon) or EOM (FIM span)."""
        ebnf = self.tokenizer.grammar(drawable=True)
        return {stop: Grammar(self.tokenizer.vocab, ebnf, [stop], vocab_size=self.model.config.vocab_size)
                for stop in (EOS_ID, EOM_ID)}

    def sampling(self, temperature: float | None = None, top_p: float | None = None) -> SamplingConfig:
        c = self.config
        return SamplingConfig(temperature=c.temperature if temperature is None else temperature,
                              top_p=c.top_p if top_p is None else top_p)

    def __call__(
        self,
        prompt: str,
        n: int = 1,
        seed: int | None = None,
        guidance: float | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        style: str | None = "outline",
        candidates: int | None = None,
        consensus: float | None = None,
    ) -> list[SVGResult]:
        """Generate `n` icons for `prompt` ("" = unconditional). Every result is a valid, non-empty SVG.

        `style`: "outline" (every path a stroke of the corpus width with round caps and joins), "filled" (every path
        filled) or None (unconstrained); the same in `complete`, `infill`, `edit` and `interpolate`, for new paths.
        `candidates`: samples per icon the reranker chooses from (default `config.candidates`; 1 = plain sampling;
        an empty prompt is never reranked). The n * candidates samples are drawn in one batch. `consensus`: the
        weight of the samples' agreement in reranking (default `config.consensus`; `gfx.svg.reranking`).
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        k = candidate_count(self.config.candidates if candidates is None else candidates, self.reranker, prompt)
        prefix, prefix_mask = self.encode_prompt(prompt)
        results = self._sample([[BOS_ID]] * (n * k), prefix.expand(n * k, -1, -1), prefix_mask.expand(n * k, -1),
                               seed, guidance, self.sampling(temperature, top_p), prompt=prompt, style=style)
        if k == 1:
            return results
        return best_of(self.reranker, results, prompt, n, self.config.consensus if consensus is None else consensus)

    def batch(self, prompts: Sequence[str], seed: int | None = None, guidance: float | None = None,
              style: str | None = "outline") -> list[SVGResult]:
        """One icon per prompt, all sampled in one batch (faster than a call each); needs `config.references` 0."""
        if self.config.references:
            raise ValueError("IconShop.batch needs a model without retrieval references; call it once per prompt")
        prefix, prefix_mask = self.encode_prompt(*prompts)
        results = self._sample([[BOS_ID]] * len(prompts), prefix, prefix_mask, seed, guidance, self.sampling(),
                               prompt=", ".join(prompts), style=style)
        return [dataclasses.replace(r, prompt=p) for r, p in zip(results, prompts, strict=True)]

    def encode_prompt(self, *prompts: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, P, 384) prefix and (B, P) mask for B prompts (cached MiniLM states; "" is unconditional)."""
        from gfx.backbones.text_encoder import text_encoder

        encoder = text_encoder()
        encoder.max_tokens = self.config.max_prompt_tokens
        return prompt_prefix([p.strip() for p in prompts], encoder)

    def references(self, query: str, exclude_group: int | None = None) -> list[int]:
        """The retrieved icons for `query`, concatenated (each `BOS ... EOS`); [] without retrieval.

        The `config.references` nearest icons of the index that fit `max_reference_tokens`, nearest last (closest
        to the icon being drawn); icons of `exclude_group` are skipped (training)."""
        k = self.config.references
        if not k:
            return []
        picked = []
        for row in self.index.nearest(query, k=4 * k, exclude_group=exclude_group):
            row = int(row)
            if row not in self._reference_ids:
                self._reference_ids[row] = self.tokenizer.encode(parse_svg(self.index.svgs[row]))
            if len(self._reference_ids[row]) <= self.config.max_reference_tokens:
                picked.append(self._reference_ids[row])
            if len(picked) == k:
                break
        return [t for ids in reversed(picked) for t in ids]

    def _sample(self, prompts, prefix, prefix_mask, seed, guidance, sampling, *, prompt, style, stop=EOS_ID,
                splice=None, query: str | None = None) -> list[SVGResult]:
        """Sample continuations of token prompts under the grammar and decode them.

        Steps (`sample_drawings`): 1. retrieved references (if any) go before every row; 2. advance a grammar
        constraint through each row's body, with the style rule on top; 3. sample with guidance; 4. decode without
        the references (a row that ran out of tokens keeps its complete elements); 5. resample empty rows.
        """
        check_style(style)
        guidance = self.config.guidance if guidance is None else guidance
        context = self.references(prompt if query is None else query)
        if context:
            prompts = [context + list(row) for row in prompts]
            inner = splice

            def splice(ids, inner=inner):
                ids = ids[len(context):]
                return inner(ids) if inner is not None else ids

        return sample_drawings(
            self.model, self.tokenizer, prompts,
            constraint=lambda row: self._constraint(row[len(context):], stop, style),
            prefix=prefix, prefix_mask=prefix_mask, max_tokens=self.config.max_tokens + len(context),
            sampling=sampling, retries=self.config.retries, seed=seed, use_cache=self.config.use_cache,
            drop_finished=True, guidance=guidance, stop=stop, extra_budget=3 if stop == EOM_ID else 0, splice=splice, prompt=prompt,
            info={"seed": seed, "guidance": guidance, "references": len(context), "style": style},
            error=f"the model produced an empty icon {self.config.retries + 1} times for {prompt!r}; "
                  "try another seed or a lower guidance",
        )

    def _constraint(self, prompt_ids, stop, style=None):
        """The grammar advanced through the prompt's body, then no zero-length segments (`zero_length_segment`),
        then the `style` rule (`StyleBans`; None: none)."""
        constraint = self._grammars[stop].constraint()
        body = prompt_ids[1:]
        if stop == EOM_ID:  # FIM: the grammar covers only the span after the second MASK
            body = body[body.index(MASK_ID, body.index(MASK_ID) + 1) + 1 :] if body.count(MASK_ID) >= 2 else []
        for t in body:
            if not constraint.advance(int(t)):
                raise SVGError(f"the partial icon does not fit the grammar at token {self.tokenizer.vocab[t]!r}")
        constraint = BanningConstraint(constraint, self.tokenizer.zero_length_segment, body)
        if style is None:
            return constraint
        if style not in self._style_bans:
            self._style_bans[style] = StyleBans(self.tokenizer, style)
        return BanningConstraint(constraint, self._style_bans[style], body)

    # --- editing --------------------------------------------------------------------------------
    def _document_ids(self, svg: str | Document) -> list[int]:
        document = svg if isinstance(svg, Document) else parse_svg(svg)
        if not document.is_normalized or tuple(document.view_box) != tuple(self.tokenizer.config.view_box):
            document = normalize(document, view_box=self.tokenizer.config.view_box)
        return self.tokenizer.encode(document)

    def path_count(self, svg: str | Document) -> int:
        """How many path elements `svg` has once normalized: the indices `edit` keeps or regenerates."""
        return len(self.tokenizer.element_starts(self._document_ids(svg)))

    def complete(self, partial: str | Document, prompt: str = "", n: int = 1, seed: int | None = None,
                 guidance: float | None = None, style: str | None = "outline") -> list[SVGResult]:
        """Keep every path of `partial` and let the model add paths after them (auto-suggest)."""
        ids = self._document_ids(partial)[:-1]  # drop EOS, keep BOS + elements
        prefix, prefix_mask = self.encode_prompt(prompt)
        return self._sample([ids] * n, prefix.expand(n, -1, -1), prefix_mask.expand(n, -1), seed, guidance,
                            self.sampling(), prompt=prompt, style=style)

    def infill(self, svg: str | Document, start: int, end: int, prompt: str = "", n: int = 1,
               seed: int | None = None, guidance: float | None = None,
               style: str | None = "outline") -> list[SVGResult]:
        """Replace path elements `start..end-1` (normalized order) with new ones, given the rest (FIM)."""
        ids = self._document_ids(svg)
        starts = [*self.tokenizer.element_starts(ids), len(ids) - 1]
        if not 0 <= start < end <= len(starts) - 1:
            raise ValueError(f"element span [{start}, {end}) is outside the icon's {len(starts) - 1} paths")
        fim = self.tokenizer.fim_split(ids, starts[start], starts[end])
        fim = fim[: fim.index(MASK_ID, fim.index(MASK_ID) + 1) + 1]  # BOS pre MASK post EOS MASK
        prefix, prefix_mask = self.encode_prompt(prompt)
        return self._sample([fim] * n, prefix.expand(n, -1, -1), prefix_mask.expand(n, -1), seed, guidance,
                            self.sampling(), prompt=prompt, style=style, stop=EOM_ID, splice=self.tokenizer.fim_join)

    def edit(self, svg: str | Document, keep: list[int], prompt: str = "", n: int = 1, seed: int | None = None,
             guidance: float | None = None, style: str | None = "outline") -> list[SVGResult]:
        """Keep the paths at indices `keep` (normalized order) and regenerate the others.

        One contiguous block of replaced paths is filled in the middle (FIM); otherwise the kept paths
        are placed first and the model completes the icon.
        """
        ids = self._document_ids(svg)
        starts = [*self.tokenizer.element_starts(ids), len(ids) - 1]
        count = len(starts) - 1
        bad = [k for k in keep if not 0 <= k < count]
        if bad:
            raise ValueError(f"--keep indices {bad} are outside the icon's {count} paths (0..{count - 1})")
        removed = sorted(set(range(count)) - set(keep))
        if not removed:
            return self.complete(svg, prompt, n, seed, guidance, style)
        if removed == list(range(removed[0], removed[-1] + 1)):
            return self.infill(svg, removed[0], removed[-1] + 1, prompt, n, seed, guidance, style)
        kept = [BOS_ID] + [t for k in sorted(keep) for t in ids[starts[k] : starts[k + 1]]] + [EOS_ID]
        return self.complete(self.tokenizer.decode(kept), prompt, n, seed, guidance, style)

    def interpolate(self, prompt_a: str, prompt_b: str, steps: int = 5, seed: int = 0,
                    guidance: float | None = None, style: str | None = "outline") -> list[SVGResult]:
        """Icons for prompts blended between `prompt_a` and `prompt_b` (experimental).

        The two prompts' MiniLM states are padded to one length and mixed linearly, (1 - t) a + t b for
        t in [0, 1], and every step samples with the same seed.
        """
        if steps < 2:
            raise ValueError("interpolate needs steps >= 2")
        (pa, ma), (pb, mb) = self.encode_prompt(prompt_a), self.encode_prompt(prompt_b)
        width = max(pa.shape[1], pb.shape[1])
        pa, pb = (torch.nn.functional.pad(p, (0, 0, 0, width - p.shape[1])) for p in (pa, pb))
        ma, mb = (torch.nn.functional.pad(m, (0, width - m.shape[1])) for m in (ma, mb))
        out = []
        for t in torch.linspace(0, 1, steps).tolist():
            prefix = (1 - t) * pa + t * pb
            [result] = self._sample([[BOS_ID]], prefix, ma | mb, seed, guidance, self.sampling(),
                                    prompt=f"{prompt_a} -> {prompt_b} @ {t:.2f}", style=style,
                                    query=f"{prompt_a}, {prompt_b}")
            out.append(result)
        return out


@functools.lru_cache(maxsize=2)
def load_default(model_dir: str | None = None) -> IconShop:
    """The shipped IconShop model (or `model_dir`), loaded once per process."""
    from gfx.models import model_path

    return IconShop.from_pretrained(model_dir or model_path("iconshop"))
