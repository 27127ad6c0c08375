"""Image -> icon (StarVector): a CNN image encoder and adapter whose visual tokens prefix the AR backbone.

StarVector (research/svg_anchors.md sec. 2.2, 7) encodes the image with a ViT, maps its patch tokens
through an adapter (Linear -> 2x width, Swish, Linear -> LM width, LayerNorm) and decodes SVG code
after them. Here the encoder is a small strided CNN (an `image_size` square -> an 8 x 8 grid of
visual tokens at 64 px), the adapter is StarVector's, and the decoder is the shared `Transformer`
over `PathTokenizer` tokens (IconShop's tokenizer setup on a coarse lattice: 49 values per axis, half
a unit, keeps the vocabulary small and each point token frequent; `refine` restores the precision).
Sampling always runs under the tokenizer's grammar, so every output is a valid SVG.

    pipe = StarVector.from_pretrained("models/starvector-mini")
    [result] = pipe(image)                         # black-on-white icon image -> SVGResult
    results = pipe.vectorize_batch(images)         # one result per image (best of `candidates`)
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from gfx.backbones.constraints import Grammar
from gfx.backbones.sampling import SamplingConfig
from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import PretrainedMixin, load_pipeline_config, save_pipeline
from gfx.config import ConfigMixin
from gfx.svg.drawing_sampler import sample_drawings
from gfx.svg.path_tokens import PathTokenizer, PathTokenizerConfig
from gfx.svg.result import SVGResult
from gfx.svg.token_vocab import BOS_ID, EOS_ID
from gfx.svg.tokenize import load_tokenizer

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
    """Encoder + adapter + decoder shapes. The adapter maps encoder channels to `decoder.prefix_dim`."""

    encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    decoder: TransformerConfig = field(default_factory=TransformerConfig)


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
        x = self.net(images * 2 - 1)  # (B, C, g, g)
        return x.flatten(2).transpose(1, 2) + self.position  # (B, g*g, C)


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
    """Image encoder + adapter + decoder `Transformer` (prefix conditioning on the visual tokens)."""

    config_class = StarVectorModelConfig

    def __init__(self, config: StarVectorModelConfig):
        super().__init__()
        self.config = config
        self.encoder = ImageEncoder(config.encoder)
        self.adapter = Adapter(config.encoder.channels[-1], config.decoder.prefix_dim)
        self.decoder = Transformer(config.decoder)

    def visual_tokens(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) float in [0, 1] -> (B, N, prefix_dim) decoder prefix."""
        return self.adapter(self.encoder(images))

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Next-token loss of the SVG tokens after the visual tokens; batch as `StarVectorBatches` yields."""
        prefix = self.visual_tokens(batch["image"])
        return self.decoder.loss({**batch, "prefix": prefix})


@dataclass
class StarVectorConfig(ConfigMixin):
    """The pipeline's own settings, saved as pipeline.json beside the model's config.json.

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
        "mini": dict(model_preset="mini", grid=49, max_tokens=320, image_size=64),
    }
    MODEL_PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(encoder=dict(channels=(8, 16, 32)), decoder="tiny"),
        "mini": dict(encoder=dict(channels=(32, 64, 128)), decoder="mini"),
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
        model = StarVectorModel(StarVectorModelConfig(encoder, decoder))
        model.decoder.set_token_extra_ids(torch.from_numpy(tokenizer.point_xy(np.arange(tokenizer.vocab_size))))
        return cls(model, tokenizer, config)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """Write config.json, model.safetensors (fp16 by default), tokenizer.json and pipeline.json."""
        return save_pipeline(self.model, self.tokenizer, self.config, directory, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> StarVector:
        """Load a pipeline saved by `save_pretrained` (local directory only)."""
        config = load_pipeline_config(directory, StarVectorConfig, "a StarVector model", "starvector")
        return cls(StarVectorModel.from_pretrained(directory, device=device), load_tokenizer(directory), config)

    # --- inference ------------------------------------------------------------------------------
    def preprocess(self, images) -> Tensor:
        """Images (anything `load_image` takes) -> (B, 3, S, S) float in [0, 1], squared on white."""
        from gfx.svg.vectorizer import load_image, square_image

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
            prefix = self.model.visual_tokens(self.preprocess([image]))
        return self._sample(prefix.expand(n, -1, -1), seed)

    def vectorize_batch(self, images, seed: int | None = 0, candidates: int | None = None) -> list[SVGResult]:
        """One result per image: the best (lowest MSE at the model's image size) of `candidates` samples."""
        from gfx.svg.metrics import mse

        k = candidates or self.config.candidates
        pixels = self.preprocess(images)  # (B, 3, S, S)
        with torch.no_grad():
            prefix = self.model.visual_tokens(pixels)
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

    def _sample(self, prefix: Tensor, seed: int | None) -> list[SVGResult]:
        """One icon per prefix row (B, P, width), grammar-constrained; rows that decode empty are resampled."""
        c = self.config
        return sample_drawings(
            self.model.decoder, self.tokenizer, [[BOS_ID]] * prefix.shape[0], constraint=lambda _: self._grammar.constraint(),
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
