"""Part occupancy fields: every part as a continuous occupancy function in its own box frame (FullPart stage b).

A `PartField` maps a query point and the part's condition to an occupancy logit:

    logit = field(x, label, box, prompt),   x in [-1, 1]^3 of the part's frame

- frame "box" (FullPart's idea, each part at full resolution): the part's box stretched to [-1, 1]^3, so
  a 3 cm leg has as many cells across as the seat; evaluated on an R^3 grid per part and placed back
  through its box (`gfx.mesh.parts.from_box_frame`).
- frame "object" (the shared-grid baseline of the ablation): the same network queried in the object
  frame [-1, 1]^3 and trained on the part's cells of one shared object grid, so a part gets only the
  cells the object grid gives it.

The condition is the label embedding, the box (Fourier features of [center, size]) and the prompt's MiniLM
sentence embedding; it modulates a residual MLP over Fourier features of x (FiLM). The field is
deterministic given the layout: the layout model carries the sampling (docs/papers.md, FullPart, on why
we generate parts as fields rather than by per-part occupancy diffusion on this CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.set_blocks import fourier_features
from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin


@dataclass
class PartFieldConfig(ConfigMixin):
    """Shape of a `PartField`. Presets: tiny (tests), mini (shipped)."""

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(width=32, n_layer=2, label_dim=8, grid=8),
        "mini": dict(),
    }

    n_labels: int = 57
    frame: str = "box"  # "box" or "object"
    width: int = 128
    n_layer: int = 4
    label_dim: int = 32
    text_dim: int = 384
    point_frequencies: int = 6
    box_frequencies: int = 4
    grid: int = 32  # cells per axis of the grid a part is evaluated on

    def __post_init__(self):
        if self.frame not in ("box", "object"):
            raise ValueError(f"frame must be 'box' or 'object', got {self.frame!r}")


class FiLMBlock(nn.Module):
    """x + MLP(LayerNorm(x) * (1 + scale) + shift), scale and shift from the condition."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(width, 2 * width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        scale, shift = self.modulation(cond).unsqueeze(1).chunk(2, dim=-1)
        return x + self.mlp(self.norm(x) * (1 + scale) + shift)


class PartField(nn.Module, PretrainedMixin):
    """Occupancy logits of parts at query points, conditioned on label, box and prompt."""

    config_class = PartFieldConfig

    def __init__(self, config: PartFieldConfig):
        super().__init__()
        self.config = c = config
        self.label = nn.Embedding(c.n_labels, c.label_dim)
        box_in = 6 * (1 + 2 * c.box_frequencies)
        self.condition = nn.Sequential(
            nn.Linear(c.label_dim + box_in + c.text_dim, c.width), nn.SiLU(), nn.Linear(c.width, c.width)
        )
        self.point_in = nn.Linear(3 * (1 + 2 * c.point_frequencies), c.width)
        self.blocks = nn.ModuleList(FiLMBlock(c.width) for _ in range(c.n_layer))
        self.out = nn.Sequential(nn.LayerNorm(c.width), nn.Linear(c.width, 1))

    def forward(self, points: Tensor, labels: Tensor, boxes: Tensor, text: Tensor) -> Tensor:
        """Logits (B, N) at points (B, N, 3) of parts with labels (B,), boxes (B, 6), prompts text (B, 384)."""
        cond = torch.cat([self.label(labels), fourier_features(boxes, self.config.box_frequencies), text], dim=-1)
        cond = F.silu(self.condition(cond))
        x = self.point_in(fourier_features(points, self.config.point_frequencies))
        for block in self.blocks:
            x = block(x, cond)
        return self.out(x).squeeze(-1)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """BCE of the logits at the batch's points against their occupancy (`PartPoints` batches)."""
        logits = self(batch["points"], batch["labels"], batch["boxes"], batch["text"])
        return F.binary_cross_entropy_with_logits(logits, batch["occupancy"])

    @torch.no_grad()
    def probabilities(self, text: Tensor, boxes: np.ndarray, labels: list[int] | np.ndarray,
                      resolution: int | None = None, coarse: int | None = 0, chunk: int = 16384) -> np.ndarray:
        """(K, R, R, R) float32 occupancy probabilities of K parts on their frame's grid.

        Args:
            text: (384,) or (1, 384) prompt embedding; boxes: (K, 6) [center, size]; labels: K label ids;
            resolution: R (default `config.grid`).
            coarse: evaluate on a coarse^3 grid first and refine only near the surface
                (`gfx.mesh.voxels.field_grid`); 0: R // 2; None: every cell.
        """
        from gfx.mesh.voxels import field_grid

        r = resolution or self.config.grid
        coarse = r // 2 if coarse == 0 else coarse
        device = next(self.parameters()).device
        text = text.reshape(1, -1).to(device)
        box_t = torch.as_tensor(np.asarray(boxes, np.float32), device=device).reshape(-1, 6)
        label_t = torch.as_tensor(np.asarray(labels, np.int64), device=device).reshape(-1)

        def field(k: int):
            def probs(points: np.ndarray) -> np.ndarray:
                pts = torch.from_numpy(points).to(device)
                logits = [self(pts[None, s : s + chunk], label_t[k : k + 1], box_t[k : k + 1], text)[0]
                          for s in range(0, len(pts), chunk)]
                return torch.sigmoid(torch.cat(logits)).float().cpu().numpy() if logits else np.zeros(0, np.float32)
            return probs

        return np.stack([field_grid(field(k), r, coarse) for k in range(len(box_t))]).astype(np.float32)
