"""Image -> icon (StarVector): a CNN image encoder and adapter whose visual tokens prefix the AR backbone.

StarVector (docs/papers.md, StarVector) encodes the image with a ViT, maps its patch tokens
through an adapter (Linear -> 2x width, Swish, Linear -> LM width, LayerNorm) and decodes SVG code
after them. Here the encoder is a small strided CNN (an `image_size` square -> an 8 x 8 grid of
visual tokens at 64 px), the adapter is StarVector's, and the decoder is the shared `Transformer`
over `PathTokenizer` tokens (IconShop's tokenizer setup on a coarse lattice: 49 values per axis, half
a unit, keeps the vocabulary small and each point token frequent; `refine` restores the precision).
Sampling always runs under the tokenizer's grammar, so every output is a valid SVG.

Beyond StarVector: a `PointerHead` adds image-dependent logits to the point tokens (the decoder state
queries keys sampled from the CNN maps where each lattice point lies). StarVector learns where the ink
is from 8B parameters and millions of pairs; our CPU-sized model given only the prefix had learned to
ignore the image after 1,263 steps, so the pointer gives it a direct path from picture to coordinates
(validation loss 1.51 -> 0.86 in 1,000 more steps). `pointer_dim=0` is the plain StarVector head.

    pipe = StarVector.from_pretrained("models/starvector-mini")
    [result] = pipe(image)                         # black-on-white icon image -> SVGResult
    results = pipe.vectorize_batch(images)         # one result per image (best of `candidates`)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.constraints import BanningConstraint, Grammar
from gfx.backbones.sampling import SamplingConfig
from gfx.backbones.transformer import Transformer, TransformerConfig, next_token_loss
from gfx.checkpoint import PretrainedMixin, read_pipeline, save_pipeline
from gfx.config import ConfigMixin
from gfx.svg.core.result import SVGResult
from gfx.svg.sampling import sample_drawings
from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig
from gfx.svg.tokenizers.registry import load_tokenizer
from gfx.svg.tokenizers.vocab import BOS_ID, EOS_ID

log = logging.getLogger(__name__)



@dataclass
class ImageEncoderConfig(ConfigMixin):
    """A strided CNN: each stage halves the image; the last stage's cells are the visual tokens.

    Attributes:
        image_size: input side in pixels.
        channels: output channels per stage; tokens = (image_size / 2^len(channels))^2.
    """

    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128)

    @property
    def grid(self) -> int:
        return self.image_size // 2 ** len(self.channels)


@dataclass
class StarVectorModelConfig(ConfigMixin):
    """Encoder + adapter + decoder shapes. The adapter maps encoder channels to `decoder.prefix_dim`.

    Attributes:
        pointer_dim: key width of the `PointerHead` (0: no pointer, StarVector's plain LM head).
        pointer_points: lattice points the pointer scores (the tokenizer's lattice squared).
    """

    encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    decoder: TransformerConfig = field(default_factory=TransformerConfig)
    pointer_dim: int = 0
    pointer_points: int = 0


class ImageEncoder(nn.Module):
    """(B, 3, S, S) images in [0, 1] -> (B, N, C) patch features with learned positions."""

    def __init__(self, config: ImageEncoderConfig):
        super().__init__()
        layers, c_in = [], 3
        for c in config.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c), nn.SiLU(),
                       nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(min(8, c), c), nn.SiLU()]
            c_in = c
        self.net = nn.Sequential(*layers)
        self.position = nn.Parameter(torch.zeros(config.grid * config.grid, c_in))
        nn.init.normal_(self.position, std=0.02)

    def forward(self, images: Tensor) -> Tensor:
        return self.tokens(self.feature_maps(images)[-1])

    def feature_maps(self, images: Tensor) -> list[Tensor]:
        """(B, 3, S, S) in [0, 1] -> the output of every stage, (B, C_s, S / 2^s, S / 2^s) for s = 1..n."""
        x, maps = images * 2 - 1, []
        for i, layer in enumerate(self.net):
            x = layer(x)
            if i % 6 == 5:  # six layers per stage
                maps.append(x)
        return maps

    def tokens(self, last_map: Tensor) -> Tensor:
        """The last stage's (B, C, g, g) map -> (B, g*g, C) patch features with learned positions."""
        return last_map.flatten(2).transpose(1, 2) + self.position


class PointerHead(nn.Module):
    """Image-dependent logits of the point tokens: the decoder state queries a key per lattice point.

    A key is an MLP of the encoder's feature maps sampled (bilinearly) where the point lies on the image,
    plus Fourier features of its position, so the decoder can point at ink it sees instead of learning
    every point's place from its output embedding alone. The query starts at zero: a new head changes
    nothing until it learns.

    Buffers (saved with the weights, set by `StarVector.build`): `point_ids` (N,) token id of each lattice
    point, `point_coords` (N, 2) its position in grid_sample coordinates ([-1, 1] across the image).
    """

    FREQS = 4

    def __init__(self, channels: Sequence[int], width: int, dim: int, n_points: int):
        super().__init__()
        self.dim = dim
        # key MLP on [sampled maps, Fourier(position)]; its first layer runs on each map before sampling
        # (1x1 convs: bilinear sampling is linear, so this equals a Linear on the samples, at map cost)
        self.project = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in channels)
        self.position = nn.Linear(4 * self.FREQS, dim)
        self.key = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim))
        self.query = nn.Linear(width, dim, bias=False)
        nn.init.zeros_(self.query.weight)
        self.register_buffer("point_ids", torch.zeros(n_points, dtype=torch.long))
        self.register_buffer("point_coords", torch.zeros(n_points, 2))

    def keys(self, feature_maps: Sequence[Tensor]) -> Tensor:
        """Encoder maps [(B, C_s, H_s, W_s)] -> (B, N, dim) one key per lattice point."""
        B = feature_maps[0].shape[0]
        grid = self.point_coords.to(feature_maps[0].dtype)[None, None].expand(B, 1, -1, 2)  # (B, 1, N, 2)
        x = sum(F.grid_sample(project(m), grid, align_corners=False)[:, :, 0]
                for project, m in zip(self.project, feature_maps, strict=True))  # (B, dim, N)
        freqs = torch.pi * 2.0 ** torch.arange(self.FREQS, device=grid.device, dtype=grid.dtype)
        angles = grid[0, 0, :, :, None] * freqs  # (N, 2, FREQS)
        fourier = torch.cat([angles.sin(), angles.cos()], -1).flatten(1)  # (N, 4 * FREQS)
        return self.key(x.transpose(1, 2) + self.position(fourier))

    def add_logits(self, logits: Tensor, hidden: Tensor, keys: Tensor) -> Tensor:
        """logits (B, T, V) + the pointer's (B, T, N) scores at the point token ids, from hidden (B, T, width)."""
        scores = self.query(hidden) @ keys.transpose(1, 2) / self.dim**0.5
        return logits.index_add(2, self.point_ids, scores.to(logits.dtype))


class Adapter(nn.Module):
    """StarVector's adapter: Linear -> 2x, Swish, Linear -> width, LayerNorm."""

    def __init__(self, in_dim: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, 2 * in_dim), nn.SiLU(), nn.Linear(2 * in_dim, width),
                                 nn.LayerNorm(width))
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)  # StarVector's Glorot init
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class StarVectorModel(nn.Module, PretrainedMixin):
    """Image encoder + adapter + decoder `Transformer` (prefix conditioning on the visual tokens), with an
    optional `PointerHead` over the lattice points."""

    config_class = StarVectorModelConfig

    def __init__(self, config: StarVectorModelConfig):
        super().__init__()
        self.config = config
        self.encoder = ImageEncoder(config.encoder)
        self.adapter = Adapter(config.encoder.channels[-1], config.decoder.prefix_dim)
        self.decoder = Transformer(config.decoder)
        if config.pointer_dim > config.decoder.prefix_dim:
            raise ValueError(f"pointer_dim {config.pointer_dim} must not exceed the prefix width {config.decoder.prefix_dim}")
        self.pointer = (PointerHead(config.encoder.channels, config.decoder.d_model, config.pointer_dim,
                                    config.pointer_points) if config.pointer_dim else None)

    def condition(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) float in [0, 1] -> (B, g*g + N, prefix_dim): the visual tokens, then (with a pointer)
        the N pointer keys zero-padded to prefix_dim; `PrefixedDecoder` splits them again."""
        maps = self.encoder.feature_maps(images)
        visual = self.adapter(self.encoder.tokens(maps[-1]))
        if self.pointer is None:
            return visual
        keys = self.pointer.keys(maps)
        return torch.cat([visual, F.pad(keys, (0, visual.shape[-1] - keys.shape[-1]))], 1)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Next-token loss of the SVG tokens after the visual tokens; batch as `StarVectorBatches` yields."""
        tokens = batch["tokens"]
        logits = PrefixedDecoder(self)(tokens, prefix=self.condition(batch["image"]),
                                       attention_mask=batch.get("attention_mask"))
        return next_token_loss(logits, tokens, batch.get("loss_mask"))


class PrefixedDecoder(nn.Module):
    """The decoder as `generate` drives it, with the pointer's logits added.

    The prefix it receives is `StarVectorModel.condition`'s: the visual tokens go to the transformer, the
    pointer keys are kept for the following cached steps (one wrapper per generation: rows stay fixed).
    """

    def __init__(self, model: StarVectorModel):
        super().__init__()
        self.model, self.config, self._keys = model, model.decoder.config, None

    def new_cache(self, *args, **kwargs):
        return self.model.decoder.new_cache(*args, **kwargs)

    def forward(self, tokens: Tensor, *, prefix: Tensor | None = None, logits_to_keep: int = 0, **kwargs) -> Tensor:
        """Logits (B, T or logits_to_keep, V); keyword arguments as in `Transformer.hidden`."""
        decoder, pointer = self.model.decoder, self.model.pointer
        if prefix is not None and pointer is not None:
            g = self.model.config.encoder.grid
            prefix, self._keys = prefix[:, : g * g], prefix[:, g * g :, : pointer.dim]
        hidden = decoder.hidden(tokens, prefix=prefix, **kwargs)
        hidden = hidden[:, -logits_to_keep:] if logits_to_keep else hidden
        logits = decoder.head(hidden)
        return logits if pointer is None else pointer.add_logits(logits, hidden, self._keys)


@dataclass
class StarVectorConfig(ConfigMixin):
    """The pipeline's own settings, saved under "config" in its model_index.json.

    Attributes:
        model_preset: size preset of the encoder and decoder (`MODEL_PRESETS`).
        grid: tokenizer lattice values per axis over the 24-unit viewBox.
        max_tokens: longest icon in tokens (BOS and EOS included); also the generation budget.
        image_size: side of the square input image in pixels.
        temperature, top_p: sampler settings.
        candidates: samples drawn per image by `vectorize_batch`; the one closest to the image wins.
        retries: how often an image whose samples all decode empty is sampled again.
        use_cache: decode with the KV cache.
    """

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(model_preset="tiny", grid=25, max_tokens=160, image_size=32, candidates=2),
        "mini": dict(model_preset="mini", grid=49, max_tokens=320, image_size=64, temperature=1.0, candidates=16),
    }
    MODEL_PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(encoder=dict(channels=(8, 16, 32)), decoder="tiny", pointer_dim=16),
        "mini": dict(encoder=dict(channels=(32, 64, 128)), decoder="mini", pointer_dim=64),
    }

    model_preset: str = "mini"
    grid: int = 49
    max_tokens: int = 320
    image_size: int = 64
    temperature: float = 0.7
    top_p: float = 0.9
    candidates: int = 4
    retries: int = 2
    use_cache: bool = True


class StarVector:
    """Image -> icon pipeline: image encoder + adapter + decoder, grammar-constrained sampling.

    Args:
        model: the `StarVectorModel`.
        tokenizer: the PathTokenizer the model was trained on.
        config: pipeline settings.
    """

    def __init__(self, model: StarVectorModel, tokenizer: PathTokenizer, config: StarVectorConfig):
        self.model, self.tokenizer, self.config = model.eval(), tokenizer, config

    # --- construction and files ---------------------------------------------------------------
    @classmethod
    def build(cls, config: StarVectorConfig, **decoder_overrides) -> StarVector:
        """A freshly initialised pipeline for `config` (for training)."""
        from gfx.config import lookup

        tokenizer = PathTokenizer(PathTokenizerConfig(grid=config.grid))
        preset = lookup(StarVectorConfig.MODEL_PRESETS, config.model_preset, "StarVector model preset")
        encoder = ImageEncoderConfig(image_size=config.image_size, **preset["encoder"])
        g = tokenizer.lattice
        base = TransformerConfig.from_name(preset["decoder"], **decoder_overrides)
        decoder = dataclasses.replace(base, vocab_size=tokenizer.vocab_size, extra_vocab_sizes=(g, g),
                                      max_seq_len=config.max_tokens + encoder.grid**2 + 8, prefix_dim=base.d_model)
        model = StarVectorModel(StarVectorModelConfig(encoder, decoder, pointer_dim=preset.get("pointer_dim", 0),
                                                      pointer_points=g * g))
        model.decoder.set_token_extra_ids(torch.from_numpy(tokenizer.point_xy(np.arange(tokenizer.vocab_size))))
        if model.pointer is not None:
            ids = tokenizer.point_base + np.arange(g * g)
            xy = tokenizer.dequantize(tokenizer.point_xy(ids))  # (N, 2) viewBox units
            x0, y0, w, h = tokenizer.config.view_box
            coords = (xy - [x0, y0]) / [w, h] * 2 - 1
            model.pointer.point_ids.copy_(torch.from_numpy(ids))
            model.pointer.point_coords.copy_(torch.from_numpy(coords))
        return cls(model, tokenizer, config)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """Write model_index.json, `model/` (config.json, model.safetensors, fp16 by default) and
        `tokenizer/tokenizer.json`."""
        components = {"model": self.model, "tokenizer": self.tokenizer}
        return save_pipeline(directory, self, components, self.config, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> StarVector:
        """Load a pipeline saved by `save_pretrained` (local only; the pre-model_index layout loads too)."""
        files = read_pipeline(directory, cls.__name__, "starvector")
        model = StarVectorModel.from_pretrained(files.path("model", "StarVectorModel"), device=device)
        tokenizer = load_tokenizer(files.path("tokenizer", "PathTokenizer"))
        return cls(model, tokenizer, StarVectorConfig.from_dict(files.settings))

    # --- inference ------------------------------------------------------------------------------
    def preprocess(self, images) -> Tensor:
        """Images (anything `load_image` takes) -> (B, 3, S, S) float in [0, 1], squared on white."""
        from gfx.svg.vectorization.image_input import load_image, square_image

        size = self.config.image_size
        arrays = [square_image(load_image(im), size) for im in images]
        return torch.from_numpy(np.stack(arrays).astype(np.float32) / 255.0).permute(0, 3, 1, 2)

    @functools.cached_property
    def _grammar(self) -> Grammar:
        ebnf = self.tokenizer.grammar(drawable=True)
        return Grammar(self.tokenizer.vocab, ebnf, [EOS_ID], vocab_size=self.model.decoder.config.vocab_size)

    def __call__(self, image, n: int = 1, seed: int | None = None) -> list[SVGResult]:
        """`n` samples for one image; every result is a valid, non-empty SVG."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        with torch.no_grad():
            prefix = self.model.condition(self.preprocess([image]))
        return self._sample(prefix.expand(n, -1, -1), seed)

    def vectorize_batch(self, images, seed: int | None = 0, candidates: int | None = None) -> list[SVGResult]:
        """One result per image: the best (lowest MSE at the model's image size) of `candidates` samples."""
        from gfx.svg.core.metrics import mse

        k = candidates or self.config.candidates
        pixels = self.preprocess(images)  # (B, 3, S, S)
        with torch.no_grad():
            prefix = self.model.condition(pixels)
        samples = self._sample(prefix.repeat_interleave(k, dim=0), seed)
        targets = np.rint(pixels.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
        out = []
        for i, target in enumerate(targets):
            group = samples[i * k : (i + 1) * k]
            errors = [mse(target, r.render(self.config.image_size)) for r in group]
            best = group[int(np.argmin(errors))]
            out.append(SVGResult(best.document, best.tokens, None, {**best.info, "candidates": k,
                                                                    "model_mse": float(min(errors))}))
        return out

    def _constraint(self, _prompt_ids) -> BanningConstraint:
        """The grammar, with no zero-length segments (`PathTokenizer.zero_length_segment`)."""
        return BanningConstraint(self._grammar.constraint(), self.tokenizer.zero_length_segment)

    def _sample(self, prefix: Tensor, seed: int | None) -> list[SVGResult]:
        """One icon per prefix row (B, P, width), grammar-constrained; rows that decode empty are resampled."""
        c = self.config
        return sample_drawings(
            PrefixedDecoder(self.model), self.tokenizer, [[BOS_ID]] * prefix.shape[0], constraint=self._constraint,
            prefix=prefix, max_tokens=c.max_tokens, sampling=SamplingConfig(temperature=c.temperature, top_p=c.top_p),
            retries=c.retries, seed=seed, use_cache=c.use_cache, info={"seed": seed},
            error=f"the model produced an empty icon {c.retries + 1} times; try another seed or method 'vtracer'",
        )


@functools.lru_cache(maxsize=2)
def load_default(model_dir: str | None = None) -> StarVector:
    """The shipped StarVector model (or `model_dir`), loaded once per process."""
    from gfx.models import MODELS_DIR, SHIPPED, model_path

    if model_dir is None:
        model_dir = model_path("starvector") if "starvector" in SHIPPED else MODELS_DIR / "starvector-mini"
    return StarVector.from_pretrained(model_dir)
