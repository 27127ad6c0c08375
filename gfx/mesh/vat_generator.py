"""VAT stage 2: a next-scale autoregressive generator of VAT tokens conditioned on a prompt (VAR-style).

The sequence is the concatenation of all scales' codes, S scales with n_1 <= ... <= n_S tokens. Scale s
is predicted all at once from the scales before it (a block-causal mask). Its input tokens are the
running reconstruction f_hat of the previous scales, area-resampled to n_s tokens
(`MultiScaleResidualQuantizer.next_scale_input`); the first scale's input is a start token made from the
prompt's MiniLM embedding. The prompt also conditions every block through adaLN-zero and is dropped in
training with probability `cond_drop` for classifier-free guidance.

    pipe = VATPipeline.from_pretrained("models/vat-mini")              # the VAT + its generator
    mesh = pipe("a wooden table with four legs", seed=0)               # one-part PartMesh
    codes = pipe.generator.sample(pipe.vat, "a round table", seed=1)   # VATCodes; pipe.vat.decode(codes)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.diffusion import drop_condition, guided
from gfx.backbones.sampling import SamplingConfig, distribution, draw
from gfx.backbones.set_blocks import FinalLayer, SetBlock
from gfx.checkpoint import PretrainedMixin, read_pipeline, save_pipeline
from gfx.config import ConfigMixin
from gfx.mesh.structures import PartMesh
from gfx.mesh.vat import VAT, VATCodes

log = logging.getLogger(__name__)


@dataclass
class VATGeneratorConfig(ConfigMixin):
    """Shape of a `VATGenerator`; `scales`, `codebook_size` and `latent_dim` must match the VAT."""

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(d_model=32, n_layer=1, n_head=2, scales=(1, 2, 4, 8), codebook_size=16, latent_dim=4),
        "mini": dict(),
    }

    scales: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    codebook_size: int = 256
    latent_dim: int = 16
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    text_dim: int = 384
    cond_drop: float = 0.1
    guidance: float = 2.0
    temperature: float = 1.0
    top_k: int = 0  # 0: sample from the full distribution

    @property
    def length(self) -> int:
        return sum(self.scales)


class VATGenerator(nn.Module, PretrainedMixin):
    """Block-causal transformer: next-scale inputs (B, L, latent_dim) + prompt -> code logits (B, L, K)."""

    config_class = VATGeneratorConfig

    def __init__(self, config: VATGeneratorConfig):
        super().__init__()
        self.config = c = config
        self.text = nn.Linear(c.text_dim, c.d_model)
        self.null_text = nn.Parameter(torch.zeros(c.text_dim))
        self.start = nn.Linear(c.d_model, c.d_model)
        self.word = nn.Linear(c.latent_dim, c.d_model)
        self.position = nn.Parameter(torch.randn(c.length, c.d_model) * 0.02)
        self.level = nn.Embedding(len(c.scales), c.d_model)
        self.blocks = nn.ModuleList(
            SetBlock(c.d_model, c.n_head, cond_dim=c.d_model) for _ in range(c.n_layer)
        )
        self.final = FinalLayer(c.d_model, c.d_model, c.codebook_size)
        levels = torch.repeat_interleave(torch.arange(len(c.scales)), torch.tensor(c.scales))
        self.register_buffer("levels", levels, persistent=False)
        self.register_buffer("mask", levels[:, None] >= levels[None, :], persistent=False)  # block-causal

    def forward(self, inputs: Tensor, text: Tensor) -> Tensor:
        """inputs: (B, T - 1, latent_dim) next-scale inputs of scales 2.. (T <= L); text: (B, 384) -> (B, T, K)."""
        cond = self.text(text)  # (B, d)
        x = torch.cat([self.start(cond)[:, None], self.word(inputs)], dim=1)  # (B, T, d)
        T = x.shape[1]
        x = x + self.position[:T] + self.level(self.levels[:T])
        for block in self.blocks:
            x = block(x, cond, mask=self.mask[None, :T, :T])
        return self.final(x, cond)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Cross-entropy of all codes: batch "inputs" (B, L - 1, D), "codes" (B, L) long, "text" (B, 384)."""
        text = drop_condition(batch["text"], self.null_text, self.config.cond_drop)
        logits = self(batch["inputs"], text)
        return F.cross_entropy(logits.flatten(0, 1).float(), batch["codes"].flatten())

    @torch.no_grad()
    def sample(
        self,
        vat: VAT,
        prompt: str | Tensor,
        seed: int | None = None,
        guidance: float | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
    ) -> VATCodes:
        """Codes of one shape for a prompt (or a (1, 384) text embedding), scale by scale."""
        from gfx.backbones.text_encoder import cached_embedding

        c = self.config
        guidance = c.guidance if guidance is None else guidance
        temperature = c.temperature if temperature is None else temperature
        top_k = c.top_k if top_k is None else top_k
        sampling = SamplingConfig(temperature=max(temperature, 1e-5), top_k=top_k)
        generator = torch.Generator().manual_seed(
            int(seed) if seed is not None else int(torch.randint(2**31, ()))
        )
        text = cached_embedding(prompt)[None] if isinstance(prompt, str) else prompt
        both = torch.cat([text, self.null_text[None]])
        quantizer = vat.quantizer
        inputs = torch.zeros(2, 0, c.latent_dim)
        f_hat, indices, start = 0, [], 0
        for s, n in enumerate(c.scales):
            # 1. logits of scale s for the prompt and the null prompt, 2. guidance
            logits = self(inputs, both)[:, start : start + n].float()
            logits = guided(logits[0], logits[1], guidance)  # (n, K)
            # 3. sample the n codes of this scale
            idx = draw(distribution(logits, sampling), generator)  # (n,)
            indices.append(idx.numpy())
            # 4. update the reconstruction and build the next scale's input
            f_hat = f_hat + quantizer.upsample(quantizer.vq.embed(idx[None]), s)
            if s + 1 < len(c.scales):
                inputs = torch.cat([inputs, quantizer.next_scale_input(f_hat, s + 1).expand(2, -1, -1)], 1)
            start += n
        return VATCodes(indices)


class VATPipeline:
    """Text -> shape: the generator samples VAT tokens for a prompt, the VAT decodes them to a mesh.

    Args:
        vat: the shape tokenizer; generator: a `VATGenerator` trained on its codes.
    """

    def __init__(self, vat: VAT, generator: VATGenerator):
        c, g = vat.config, generator.config
        if (
            tuple(g.scales) != tuple(c.scales)
            or g.codebook_size != c.codebook_size
            or g.latent_dim != c.latent_dim
        ):
            raise ValueError("the generator's scales, codebook_size and latent_dim must match the VAT's")
        self.vat, self.generator = vat.eval(), generator.eval()

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """Write model_index.json and the `vat/` and `generator/` component folders."""
        return save_pipeline(directory, self, {"vat": self.vat, "generator": self.generator}, dtype=dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> VATPipeline:
        """Load a pipeline saved by `save_pretrained` (or the older layout: the VAT at the top, `generator/`)."""
        files = read_pipeline(directory, cls.__name__, "vat")
        return cls(
            VAT.from_pretrained(files.path("vat", "VAT"), device=device),
            VATGenerator.from_pretrained(files.path("generator", "VATGenerator"), device=device),
        )

    def __call__(self, prompt: str, seed: int | None = None, **sampling) -> PartMesh:
        """A one-part mesh in [-1, 1]^3 for `prompt`; `sampling` overrides guidance, temperature, top_k."""
        return self.vat.decode(self.generator.sample(self.vat, prompt, seed=seed, **sampling))
