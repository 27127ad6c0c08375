"""Hita: a holistic-to-local image tokenizer and an autoregressive generator over its tokens (docs/papers.md, Hita).

    tokenizer = HitaTokenizer(HitaTokenizerConfig.from_name("mini"))
    codes = tokenizer.encode(pixels)             # pixels (B, 3, 64, 64) in [-1, 1] -> HitaCodes
    images = tokenizer.decode(codes)             # (B, 3, 64, 64)
    pipe = HitaPipeline(tokenizer, HitaPipeline.new_generator(tokenizer.config, "mini"))
    results = pipe("a large red circle", n=4, seed=0)

The tokenizer: a CNN encodes the image to an h x w grid of patch features; M learnable holistic queries are placed
before them and a full-attention transformer mixes both, then a causal one orders them (holistic first). Two
quantizers from `gfx.tokenizers.quantizers` (L2-normalized low-dimensional codes, with linear projections in and out)
code the holistic and the patch tokens. The fusion decoder, a causal transformer over [holistic | patches], gives
the CNN decoder the outputs at positions M - k ... M - k + hw - 1: the last k holistic tokens take the places of the
first k patches, so the decoder must read the holistic codes. `holistic=False` is the ablation with the same token
budget: the M slots are area-pooled patch features (local summaries) instead of learned queries.

The generator is the shared `Transformer` over [BOS | M holistic | hw patch] tokens, conditioned on MiniLM token
states as a prefix; holistic and patch codes have separate id ranges (separate embedding rows and head columns), and
each position predicts only its own range (a constraint at sampling, a masked cross-entropy in training).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.constraints import AutomatonConstraint
from gfx.backbones.decoding import generate
from gfx.backbones.guidance import Guidance
from gfx.backbones.sampling import SamplingConfig
from gfx.backbones.text_encoder import TEXT_WIDTH
from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import PretrainedMixin, read_pipeline, save_pipeline
from gfx.config import ConfigMixin
from gfx.image.ar_pipeline import ARImagePipeline, TextCondition
from gfx.tokenizers.quantizers import VectorQuantizer, resize_tokens


@dataclass
class HitaTokenizerConfig(ConfigMixin):
    """Shape of a `HitaTokenizer`. Presets: tiny (tests), mini.

    Attributes:
        image_size: side of the images in pixels.
        channels: CNN widths, one stride-2 stage each (64 px and 3 stages: an 8 x 8 patch grid).
        width, layers, heads: each of the three transformers (mixer, causal encoder, fusion decoder).
        holistic: learned holistic queries (False: the slots are pooled patch features, the ablation).
        holistic_tokens: M, the holistic tokens before the patches.
        shift: k, how many holistic outputs take the first patch places in the fusion decoder (k <= M).
        patch_codes, patch_code_dim, holistic_codes, holistic_code_dim: the two codebooks.
        beta: commitment weight of the quantizers.
    """

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(image_size=16, channels=(8, 16), width=16, layers=1, heads=2, holistic_tokens=4, shift=1,
                     patch_codes=32, holistic_codes=32),
        "mini": dict(),
    }

    image_size: int = 64
    channels: tuple[int, ...] = (16, 32, 64)
    width: int = 96
    layers: int = 2
    heads: int = 4
    holistic: bool = True
    holistic_tokens: int = 8
    shift: int = 2
    patch_codes: int = 512
    patch_code_dim: int = 8
    holistic_codes: int = 512
    holistic_code_dim: int = 12
    beta: float = 0.25

    def __post_init__(self):
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} must divide by 2^{len(self.channels)} (one per channel)")
        if not 0 <= self.shift <= self.holistic_tokens:
            raise ValueError(f"shift {self.shift} must lie in [0, holistic_tokens {self.holistic_tokens}]")

    @property
    def grid(self) -> int:
        """Side of the patch grid."""
        return self.image_size // 2 ** len(self.channels)

    @property
    def tokens(self) -> int:
        """Tokens per image: M holistic + grid^2 patches."""
        return self.holistic_tokens + self.grid**2


@dataclass
class HitaCodes:
    """An image's tokens: holistic (B, M) long, then patches (B, h*w) long (row-major)."""

    holistic: Tensor
    patches: Tensor


def token_stack(config: HitaTokenizerConfig) -> Transformer:
    """A shared `Transformer` used as a stack of blocks over continuous tokens (`hidden(None, embeds=...)`)."""
    return Transformer(TransformerConfig(vocab_size=1, d_model=config.width, n_layer=config.layers,
                                         n_head=config.heads, max_seq_len=config.tokens))


def conv_encoder(channels: tuple[int, ...], width: int) -> nn.Sequential:
    """(B, 3, S, S) -> (B, width, S / 2^n, S / 2^n), n = len(channels)."""
    layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, padding=1)]
    previous = channels[0]
    for c in channels:
        layers += [nn.SiLU(), nn.Conv2d(previous, c, 4, stride=2, padding=1)]
        previous = c
    return nn.Sequential(*layers, nn.SiLU(), nn.Conv2d(previous, width, 1))


def conv_decoder(channels: tuple[int, ...], width: int) -> nn.Sequential:
    """(B, width, g, g) -> (B, 3, g 2^n, g 2^n), the mirror of `conv_encoder`."""
    layers: list[nn.Module] = [nn.Conv2d(width, channels[-1], 1)]
    previous = channels[-1]
    for c in reversed(channels):
        layers += [nn.SiLU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(previous, c, 3, padding=1)]
        previous = c
    return nn.Sequential(*layers, nn.SiLU(), nn.Conv2d(previous, 3, 3, padding=1))


class HitaTokenizer(nn.Module, PretrainedMixin):
    """Image <-> [holistic | patch] codes (see the module docstring)."""

    config_class = HitaTokenizerConfig

    def __init__(self, config: HitaTokenizerConfig):
        super().__init__()
        c = self.config = config
        M, hw = c.holistic_tokens, c.grid**2
        self.encoder = conv_encoder(c.channels, c.width)
        self.queries = nn.Parameter(torch.randn(M, c.width) * 0.02) if c.holistic else None
        self.mixer, self.causal, self.fusion = token_stack(c), token_stack(c), token_stack(c)
        self.holistic_in, self.holistic_out = nn.Linear(c.width, c.holistic_code_dim), nn.Linear(c.holistic_code_dim, c.width)
        self.patch_in, self.patch_out = nn.Linear(c.width, c.patch_code_dim), nn.Linear(c.patch_code_dim, c.width)
        self.holistic_vq = VectorQuantizer(c.holistic_codes, c.holistic_code_dim, c.beta, normalize=True)
        self.patch_vq = VectorQuantizer(c.patch_codes, c.patch_code_dim, c.beta, normalize=True)
        self.holistic_pos = nn.Parameter(torch.randn(M, c.width) * 0.02)
        self.patch_pos = nn.Parameter(torch.randn(hw, c.width) * 0.02)
        self.decoder = conv_decoder(c.channels, c.width)

    def token_features(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """pixels (B, 3, S, S) in [-1, 1] -> holistic (B, M, width) and patch (B, hw, width) features, unquantized."""
        c = self.config
        if pixels.dim() != 4 or tuple(pixels.shape[1:]) != (3, c.image_size, c.image_size):
            raise ValueError(f"expected (B, 3, {c.image_size}, {c.image_size}) pixels, got {tuple(pixels.shape)}")
        patches = self.encoder(pixels).flatten(2).transpose(1, 2)  # (B, hw, width), row-major
        B, M = len(pixels), c.holistic_tokens
        slots = self.queries.expand(B, -1, -1) if self.queries is not None else resize_tokens(patches, M, "area")
        x = torch.cat([slots, patches], 1)  # (B, M + hw, width): holistic first
        everything = torch.ones(B, x.shape[1], x.shape[1], dtype=torch.bool, device=x.device)
        x = self.mixer.hidden(None, embeds=x, attn_mask=everything)  # full attention
        x = self.causal.hidden(None, embeds=x)  # causal: the order the generator will follow
        return x[:, :M], x[:, M:]

    def quantize(self, pixels: Tensor):
        """pixels -> (holistic QuantizerOutput, patch QuantizerOutput)."""
        holistic, patches = self.token_features(pixels)
        return self.holistic_vq(self.holistic_in(holistic)), self.patch_vq(self.patch_in(patches))

    def decode_vectors(self, holistic: Tensor, patches: Tensor) -> Tensor:
        """Code vectors holistic (B, M, holistic_code_dim), patches (B, hw, patch_code_dim) -> (B, 3, S, S)."""
        c = self.config
        M, hw, g = c.holistic_tokens, c.grid**2, c.grid
        x = torch.cat([self.holistic_out(holistic) + self.holistic_pos, self.patch_out(patches) + self.patch_pos], 1)
        y = self.fusion.hidden(None, embeds=x)  # (B, M + hw, width), causal
        grid = y[:, M - c.shift : M - c.shift + hw]  # the last k holistic outputs take the first k patch places
        return self.decoder(grid.transpose(1, 2).reshape(len(y), c.width, g, g))

    def forward(self, pixels: Tensor) -> tuple[Tensor, Tensor, HitaCodes, dict]:
        """pixels -> (reconstruction (B, 3, S, S), quantizer loss, codes, {"holistic_perplexity", "patch_perplexity"})."""
        holistic, patches = self.quantize(pixels)
        recon = self.decode_vectors(holistic.quantized, patches.quantized)
        stats = {"holistic_perplexity": holistic.perplexity, "patch_perplexity": patches.perplexity}
        return recon, holistic.loss + patches.loss, HitaCodes(holistic.indices, patches.indices), stats

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Reconstruction MSE plus the quantizers' losses on batch["pixels"] (B, 3, S, S)."""
        recon, vq_loss, _, _ = self(batch["pixels"])
        return F.mse_loss(recon, batch["pixels"]) + vq_loss

    @torch.no_grad()
    def encode(self, pixels: Tensor) -> HitaCodes:
        """pixels (B, 3, S, S) in [-1, 1] -> codes, without codebook updates."""
        holistic, patches = self.token_features(pixels)
        return HitaCodes(self.holistic_vq.lookup(self.holistic_in(holistic)),
                         self.patch_vq.lookup(self.patch_in(patches)))

    def decode(self, codes: HitaCodes) -> Tensor:
        """codes -> (B, 3, S, S) pixels (not clamped)."""
        return self.decode_vectors(self.holistic_vq.embed(codes.holistic), self.patch_vq.embed(codes.patches))


@dataclass
class HitaSettings(ConfigMixin):
    """Sampling defaults saved with a `HitaPipeline`."""

    guidance: float = 3.0
    temperature: float = 1.0
    top_k: int = 0
    max_prompt_tokens: int = 32


GENERATOR_PRESETS = {"tiny": dict(d_model=32, n_layer=2, n_head=2), "mini": dict(d_model=128, n_layer=4, n_head=4)}
"""Generator sizes by name (`HitaPipeline.new_generator`)."""
BOS = 0
"""The generator's start token; holistic codes follow at 1..K_h, patch codes at 1 + K_h ... ."""


class HitaPipeline(ARImagePipeline, nn.Module):
    """Text -> image: the generator samples [holistic | patch] codes, the tokenizer decodes them.

    `loss(batch)` trains the generator on the codes of the tokenizer (encoded without gradients, so the tokenizer
    stays as it is).
    """

    def __init__(self, tokenizer: HitaTokenizer, generator: Transformer, settings: HitaSettings | None = None):
        super().__init__()
        self.tokenizer, self.generator, self.settings = tokenizer, generator, settings or HitaSettings()
        c = tokenizer.config
        expected = 1 + c.holistic_codes + c.patch_codes
        if generator.config.vocab_size != expected or generator.config.prefix_dim != TEXT_WIDTH:
            raise ValueError(f"the generator needs vocab_size {expected} (BOS + both codebooks) and prefix_dim "
                             f"{TEXT_WIDTH}; build it with HitaPipeline.new_generator")
        self.max_prompt_tokens = self.settings.max_prompt_tokens

    @property
    def default_guidance(self) -> float:
        return self.settings.guidance

    @staticmethod
    def new_generator(config: HitaTokenizerConfig, preset: str = "mini", max_prompt_tokens: int = 32) -> Transformer:
        """A fresh generator for a tokenizer of `config`."""
        from gfx.config import lookup

        return Transformer(TransformerConfig(
            vocab_size=1 + config.holistic_codes + config.patch_codes, prefix_dim=TEXT_WIDTH,
            max_seq_len=max_prompt_tokens + 1 + config.tokens, **lookup(GENERATOR_PRESETS, preset, "generator preset")))

    @property
    def device(self) -> torch.device:
        return self.generator.embed.weight.device

    def ranges(self) -> tuple[range, range]:
        """Token ids of the holistic codes and of the patch codes."""
        K_h = self.tokenizer.config.holistic_codes
        return range(1, 1 + K_h), range(1 + K_h, 1 + K_h + self.tokenizer.config.patch_codes)

    def to_tokens(self, codes: HitaCodes) -> Tensor:
        """codes -> (B, 1 + M + hw) generator tokens: BOS, holistic, then patches."""
        holistic, patches = self.ranges()
        bos = torch.full_like(codes.holistic[:, :1], BOS)
        return torch.cat([bos, codes.holistic + holistic.start, codes.patches + patches.start], 1)

    def from_tokens(self, tokens: Tensor) -> HitaCodes:
        """(B, M + hw) generated tokens (no BOS) -> codes."""
        holistic, patches = self.ranges()
        M = self.tokenizer.config.holistic_tokens
        return HitaCodes(tokens[:, :M] - holistic.start, tokens[:, M:] - patches.start)

    def range_mask(self, device) -> Tensor:
        """(M + hw, V) bool: the ids each generated position may take (holistic first, then patches)."""
        holistic, patches = self.ranges()
        M, n = self.tokenizer.config.holistic_tokens, self.tokenizer.config.tokens
        allowed = torch.zeros(n, self.generator.config.vocab_size, dtype=torch.bool, device=device)
        allowed[:M, holistic.start : holistic.stop] = True
        allowed[M:, patches.start : patches.stop] = True
        return allowed

    def loss(self, batch: dict) -> Tensor:
        """CE(holistic) + CE(patch) of the generator on the tokenizer's codes of batch["pixels"], conditioned on
        batch["prompts"] ("" = unconditional)."""
        tokens = self.to_tokens(self.tokenizer.encode(batch["pixels"]))  # (B, 1 + M + hw)
        condition = TextCondition.of(batch["prompts"], max_tokens=self.max_prompt_tokens, device=tokens.device)
        logits = self.generator(tokens, prefix=condition.prefix, prefix_mask=condition.prefix_mask)[:, :-1]
        logits = logits.float().masked_fill(~self.range_mask(tokens.device), float("-inf"))  # one head per range
        per_token = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(len(tokens), -1)
        M = self.tokenizer.config.holistic_tokens
        return per_token[:, :M].mean() + per_token[:, M:].mean()

    def order_constraint(self) -> AutomatonConstraint:
        """Holistic codes for the first M positions, patch codes after (state: tokens so far). Give each row a
        `fork()` of one: forks share the masks packed per state, so they are built once per call, not per row."""
        holistic, patches = self.ranges()
        M, n = self.tokenizer.config.holistic_tokens, self.tokenizer.config.tokens
        return AutomatonConstraint(0, lambda k: holistic if k < M else patches, lambda k, _: k + 1,
                                   self.generator.config.vocab_size, final=lambda k: k >= n)

    @torch.no_grad()
    def sample_codes(self, condition: TextCondition, n: int, seed: int | None = None, guidance: float | None = None,
                     use_cache: bool = True) -> HitaCodes:
        """Sample the codes of `n` images (KV-cached unless `use_cache` is False; same tokens either way)."""
        s = self.settings
        guide = Guidance(s.guidance if guidance is None else guidance, uncond_prefix=condition.uncond,
                         uncond_prefix_mask=condition.uncond_mask)
        bos = torch.full((n, 1), BOS, dtype=torch.long, device=self.device)
        order = self.order_constraint()
        out = generate(self.generator, bos, max_new_tokens=self.tokenizer.config.tokens,
                       sampling=SamplingConfig(temperature=s.temperature, top_k=s.top_k), prefix=condition.prefix,
                       prefix_mask=condition.prefix_mask, guidance=guide,
                       constraints=[order.fork() for _ in range(n)], seed=seed, use_cache=use_cache)
        return self.from_tokens(out.tokens)

    def sample(self, condition: TextCondition, n: int, seed: int | None, steps: int, guidance: float,
               use_cache: bool = True) -> Tensor:
        """(n, 3, S, S) pixels in [-1, 1]."""
        return self.tokenizer.decode(self.sample_codes(condition, n, seed, guidance, use_cache)).clamp(-1, 1)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write model_index.json (with the sampling settings) and the `tokenizer/` and `generator/` folders."""
        return save_pipeline(directory, self, {"tokenizer": self.tokenizer, "generator": self.generator},
                             self.settings, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> HitaPipeline:
        """Load a pipeline written by `save_pretrained` (local only)."""
        files = read_pipeline(directory, cls.__name__, "hita")
        return cls(HitaTokenizer.from_pretrained(files.path("tokenizer", "HitaTokenizer"), device=device),
                   Transformer.from_pretrained(files.path("generator", "Transformer"), device=device),
                   HitaSettings.from_dict(files.settings)).eval()
