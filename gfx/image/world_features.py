"""The 2D world's own image features, for Fréchet distances on the world (FID without Inception weights).

A small CNN is trained to read world properties back from a render (which shapes and colours are present, the
style, the object count, the palette; `gfx train world-features`); its penultimate activations are the features:

    net = WorldFeatureNet.from_pretrained("models/world-features")
    feats = world_features(images, net)            # images: N (S, S, 3) uint8 -> (N, feature_dim) float64
    fid = gfx.svg.core.metrics.frechet_distance(feats, real_feats)    # composed in gfx.recipes
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin
from gfx.data.shapes2d.world import COLORS, PALETTES, SHAPES, STYLES, Scene

COUNTS = (1, 2, 3)


@dataclass
class WorldFeaturesConfig(ConfigMixin):
    """Shape of a `WorldFeatureNet`. Presets: tiny (tests), mini."""

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(channels=(8, 16), feature_dim=16), "mini": dict()}

    image_size: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 64)
    feature_dim: int = 128


def scene_labels(scenes: Sequence[Scene]) -> dict[str, Tensor]:
    """Targets of the property heads: "shapes" (B, 5) and "colors" (B, 6) multi-hot float, "style", "count",
    "palette" (B,) long."""
    shapes = torch.zeros(len(scenes), len(SHAPES))
    colors = torch.zeros(len(scenes), len(COLORS))
    names = list(COLORS)
    for i, s in enumerate(scenes):
        for o in s.objects:
            shapes[i, SHAPES.index(o.shape)] = 1
            colors[i, names.index(o.color)] = 1
    return {"shapes": shapes, "colors": colors,
            "style": torch.tensor([STYLES.index(s.style) for s in scenes]),
            "count": torch.tensor([len(s.objects) - 1 for s in scenes]),
            "palette": torch.tensor([list(PALETTES).index(s.palette) for s in scenes])}


class WorldFeatureNet(nn.Module, PretrainedMixin):
    """CNN -> global average pool -> feature_dim features -> one linear head per property."""

    config_class = WorldFeaturesConfig

    def __init__(self, config: WorldFeaturesConfig):
        super().__init__()
        self.config = config
        layers, previous = [], 3
        for c in config.channels:
            layers += [nn.Conv2d(previous, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c), nn.SiLU()]
            previous = c
        self.trunk = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(previous, config.feature_dim),
                                   nn.SiLU())
        self.heads = nn.ModuleDict({"shapes": nn.Linear(config.feature_dim, len(SHAPES)),
                                    "colors": nn.Linear(config.feature_dim, len(COLORS)),
                                    "style": nn.Linear(config.feature_dim, len(STYLES)),
                                    "count": nn.Linear(config.feature_dim, len(COUNTS)),
                                    "palette": nn.Linear(config.feature_dim, len(PALETTES))})

    def forward(self, pixels: Tensor) -> Tensor:
        """pixels (B, 3, S, S) in [-1, 1] -> features (B, feature_dim)."""
        return self.trunk(pixels)

    def predict(self, pixels: Tensor) -> dict[str, Tensor]:
        """Logits of every head: "shapes" (B, 5), "colors" (B, 6), "style" (B, 4), "count" (B, 3), "palette" (B, 2)."""
        features = self(pixels)
        return {name: head(features) for name, head in self.heads.items()}

    def loss(self, batch: dict) -> Tensor:
        """Multi-label BCE (shapes, colours) plus CE (style, count, palette) on batch["pixels"] and its labels."""
        logits = self.predict(batch["pixels"])
        loss = sum(F.binary_cross_entropy_with_logits(logits[k], batch[k]) for k in ("shapes", "colors"))
        return loss + sum(F.cross_entropy(logits[k], batch[k]) for k in ("style", "count", "palette"))


def to_pixels(images: Sequence[np.ndarray]) -> Tensor:
    """N (S, S, 3) uint8 images -> (N, 3, S, S) float32 in [-1, 1]."""
    if not len(images):
        raise ValueError("no images")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


@torch.no_grad()
def world_features(images: Sequence[np.ndarray], net: WorldFeatureNet, batch_size: int = 64) -> np.ndarray:
    """N (S, S, 3) uint8 images -> (N, feature_dim) float64 features of `net` (penultimate layer)."""
    size = net.config.image_size
    if any(tuple(i.shape) != (size, size, 3) for i in images):
        raise ValueError(f"world_features needs ({size}, {size}, 3) uint8 images")
    device = next(net.parameters()).device
    out = [net(to_pixels(images[i : i + batch_size]).to(device)).double().cpu().numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out)
