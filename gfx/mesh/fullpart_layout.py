"""FullPart stage (a): box layouts by diffusion over an unordered set of box tokens.

A layout is a set of up to `max_parts` slots. Each slot is one 13-d token:

    [center xyz (3), size xyz - 1 (3), present flag (1, +1 or -1), label code (label_bits, +-1)]

in the object frame [-1, 1]^3 (sizes are in [0, 2], shifted to [-1, 1]). The label is a fixed binary code
of its index in `LABELS` ("analog bits"), so boxes and labels are denoised jointly; absent slots have
present = -1 and zeros elsewhere. The denoiser is a DiT over the slots with no positional embedding, so it
is permutation-equivariant: a layout is a set, the slot order means nothing. It is conditioned on the
prompt's MiniLM sentence embedding and the timestep through adaLN-zero; the condition is dropped with
probability `cond_drop` in training for classifier-free guidance. Sampling runs DDIM (diffusers).

FullPart's own layout model (a box "vecset" VAE + latent diffusion) was not released; this is the
direct-diffusion form of the same idea: a set of box tokens denoised together (docs/papers.md, FullPart).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.diffusion import drop_condition, guided, scheduler
from gfx.backbones.set_blocks import FinalLayer, SetBlock, TimestepEmbedding
from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin

MIN_SIZE = 0.01
"""Smallest box edge a sampled layout keeps (object-frame units)."""


def label_bits_for(n_labels: int) -> int:
    return max(1, math.ceil(math.log2(n_labels)))


def label_codes(n_labels: int, bits: int) -> Tensor:
    """(n_labels, bits) float +-1: the binary code of each label index, most significant bit first."""
    index = torch.arange(n_labels)[:, None]
    return ((index >> torch.arange(bits - 1, -1, -1)) & 1).float() * 2 - 1


@dataclass
class LayoutConfig(ConfigMixin):
    """Shape of a `LayoutDenoiser`. Presets: tiny (tests), mini (shipped)."""

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(d_model=32, n_layer=1, n_head=2, sample_steps=4),
        "mini": dict(),
    }

    max_parts: int = 16
    n_labels: int = 57
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    text_dim: int = 384
    train_timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    sample_steps: int = 50
    guidance: float = 2.0
    cond_drop: float = 0.1

    @property
    def label_bits(self) -> int:
        return label_bits_for(self.n_labels)

    @property
    def token_dim(self) -> int:
        return 7 + self.label_bits


class LayoutDenoiser(nn.Module, PretrainedMixin):
    """Predicts the noise of a noised layout (B, max_parts, token_dim) given timestep and text."""

    config_class = LayoutConfig

    def __init__(self, config: LayoutConfig):
        super().__init__()
        self.config = c = config
        self.register_buffer("codes", label_codes(c.n_labels, c.label_bits), persistent=False)
        self.token_in = nn.Linear(c.token_dim, c.d_model)
        self.time = TimestepEmbedding(c.d_model)
        self.text = nn.Linear(c.text_dim, c.d_model)
        self.null_text = nn.Parameter(torch.zeros(c.text_dim))
        self.blocks = nn.ModuleList(
            SetBlock(c.d_model, c.n_head, cond_dim=c.d_model) for _ in range(c.n_layer)
        )
        self.final = FinalLayer(c.d_model, c.d_model, c.token_dim)

    def forward(self, x: Tensor, t: Tensor, text: Tensor) -> Tensor:
        """x: (B, S, token_dim) noised slots; t: (B,) timesteps; text: (B, 384) -> noise (B, S, token_dim)."""
        cond = self.time(t) + self.text(text)  # (B, d)
        h = self.token_in(x)
        for block in self.blocks:
            h = block(h, cond)
        return self.final(h, cond)

    # layouts <-> tokens ------------------------------------------------------------------------------
    def encode_layout(self, boxes: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """boxes (B, K, 6), labels (B, K), mask (B, K) -> clean slots (B, max_parts, token_dim)."""
        c = self.config
        B, K = mask.shape
        if K > c.max_parts:
            raise ValueError(f"layouts have {K} parts; this model holds at most {c.max_parts} (max_parts)")
        tokens = torch.cat(
            [boxes[..., :3], boxes[..., 3:] - 1, torch.ones_like(boxes[..., :1]), self.codes[labels]], dim=-1
        )
        absent = torch.zeros(c.token_dim, device=boxes.device)
        absent[6] = -1
        tokens = torch.where(mask[..., None], tokens, absent)
        pad = absent.expand(B, c.max_parts - K, -1)
        return torch.cat([tokens, pad], dim=1)

    def decode_layout(self, tokens: Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        """Denoised slots (B, S, token_dim) -> per row (boxes (K, 6) float32, labels (K,) int64).

        Present slots (flag > 0) are kept, at least the most present one; labels are the nearest codes;
        edges are clipped to [MIN_SIZE, 2] and boxes shifted into [-1, 1]^3. Boxes come sorted by half
        surface area, largest first (the dataset's part order).
        """
        layouts = []
        for row in tokens.float().cpu():
            keep = torch.nonzero(row[:, 6] > 0).flatten()
            if len(keep) == 0:
                keep = row[:, 6].argmax()[None]
            row = row[keep]
            labels = (row[:, 7:] @ self.codes.cpu().t()).argmax(1)
            size = (row[:, 3:6] + 1).clamp(MIN_SIZE, 2.0)
            center = torch.clamp(row[:, :3], -1 + size / 2, 1 - size / 2)  # shifted inside [-1, 1]^3
            boxes = torch.cat([center, size], dim=1).numpy().astype(np.float32)
            half_area = size[:, 0] * size[:, 1] + size[:, 1] * size[:, 2] + size[:, 0] * size[:, 2]
            order = torch.argsort(-half_area, stable=True).numpy()
            layouts.append((boxes[order], labels.numpy().astype(np.int64)[order]))
        return layouts

    # training and sampling ---------------------------------------------------------------------------
    def scheduler(self, kind: str = "ddpm"):
        """A diffusers scheduler ("ddpm" or "ddim") for this model's noise schedule."""
        return scheduler(
            kind,
            train_timesteps=self.config.train_timesteps,
            beta_schedule=self.config.beta_schedule,
            prediction_type="epsilon",
            clip_sample_range=1.5,
        )

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Noise-prediction MSE on a batch with "boxes", "labels", "part_mask", "text"."""
        x0 = self.encode_layout(batch["boxes"], batch["labels"], batch["part_mask"])
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.config.train_timesteps, (len(x0),), device=x0.device)
        sched = self._train_scheduler()
        xt = sched.add_noise(x0, noise, t)
        text = drop_condition(batch["text"], self.null_text, self.config.cond_drop)
        return F.mse_loss(self(xt, t, text), noise)

    def _train_scheduler(self):
        if not hasattr(self, "_sched"):
            self._sched = self.scheduler("ddpm")
        return self._sched

    @torch.no_grad()
    def sample(
        self,
        text: Tensor,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        guidance: float | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Layouts for prompts: text (B, 384) -> per row (boxes (K, 6), labels (K,))."""
        c = self.config
        sched = self.scheduler("ddim")
        sched.set_timesteps(steps or c.sample_steps)
        guidance = c.guidance if guidance is None else guidance
        B = len(text)
        # 1. start from Gaussian noise over all slots
        x = torch.randn(B, c.max_parts, c.token_dim, generator=generator).to(text.device)
        null = self.null_text.expand_as(text)
        for t in sched.timesteps:
            # 2. predict the noise with and without the prompt, 3. guide, 4. step
            tt = torch.full((B,), int(t), device=text.device, dtype=torch.long)
            if guidance != 1.0:
                eps_c, eps_u = self(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([text, null])).chunk(2)
                eps = guided(eps_c, eps_u, guidance)
            else:
                eps = self(x, tt, text)
            x = sched.step(eps, t, x, generator=generator).prev_sample
        # 5. read boxes and labels off the clean slots
        return self.decode_layout(x)
