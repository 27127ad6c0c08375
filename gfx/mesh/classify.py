"""A category classifier of whole objects from their surface points: is a generated object recognisable?

A `PointClassifier` is a small PointNet (Qi et al., 2017): a shared per-point MLP over xyz, max- and
mean-pooled over the points, then an MLP head to one logit per category. It reads area-weighted samples
of every part's surface (`gfx.mesh.voxels.sample_surface`, the sampler `gfx.mesh.metrics` uses) of the
object normalized to [-1, 1]^3 (`PartMesh.normalized`, +y up, the frame of `gfx.data.parts3d` and of
the generators), so no rotation invariance is learnt or needed.

    model = PointClassifier.from_pretrained("models/parts-classifier")
    name, probs = model.classify(mesh)                   # "chair", (C,) probabilities
    category_accuracy(meshes, ["chair", "lamp", ...])    # share put in the prompted category

The number of points and the category names live in the saved config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin
from gfx.data.parts3d import CATEGORIES
from gfx.mesh.structures import PartMesh
from gfx.mesh.voxels import sample_surface

SHIPPED_TASK = "mesh-classifier"
"""The `gfx.models.SHIPPED` entry of the checkpoint `category_accuracy` loads by default."""


@dataclass
class PointClassifierConfig(ConfigMixin):
    """Shape of a `PointClassifier`. Presets: tiny (tests), mini (shipped)."""

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(widths=(16, 32), head=(32,)),
        "mini": dict(),
    }

    categories: tuple[str, ...] = tuple(CATEGORIES)  # logit k is categories[k]
    widths: tuple[int, ...] = (64, 128, 256)  # the shared per-point MLP
    head: tuple[int, ...] = (128,)  # hidden widths of the head over [max, mean] pooled features
    dropout: float = 0.3  # before the last layer, in training only
    n_points: int = 1024  # surface samples per object at inference

    def __post_init__(self):
        if len(self.categories) < 2 or len(set(self.categories)) != len(self.categories):
            raise ValueError(f"categories must be at least 2 distinct names, got {self.categories}")


class PointClassifier(nn.Module, PretrainedMixin):
    """Category logits of objects from their surface points (see the module docstring)."""

    config_class = PointClassifierConfig

    def __init__(self, config: PointClassifierConfig):
        super().__init__()
        self.config = c = config
        layers: list[nn.Module] = []
        width = 3
        for k, out in enumerate(c.widths):
            layers.append(nn.Linear(width, out))
            if k < len(c.widths) - 1:  # the last layer feeds the pooling directly
                layers += [nn.LayerNorm(out), nn.GELU()]
            width = out
        self.points = nn.Sequential(*layers)
        head: list[nn.Module] = []
        width = 2 * c.widths[-1]
        for out in c.head:
            head += [nn.Linear(width, out), nn.LayerNorm(out), nn.GELU()]
            width = out
        self.head = nn.Sequential(*head, nn.Dropout(c.dropout), nn.Linear(width, len(c.categories)))

    def forward(self, points: Tensor) -> Tensor:
        """Logits (B, C) of objects given as points (B, N, 3) in [-1, 1]^3."""
        x = self.points(points)  # (B, N, W)
        pooled = torch.cat([x.amax(dim=1), x.mean(dim=1)], dim=-1)  # (B, 2W)
        return self.head(pooled)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Cross-entropy of the logits of batch["points"] (B, N, 3) against batch["category"] (B,) long."""
        return F.cross_entropy(self(batch["points"]), batch["category"])

    @torch.no_grad()
    def predict(self, meshes: Sequence[PartMesh], n_points: int | None = None, seed: int = 0,
                batch_size: int = 64) -> np.ndarray:
        """(M, C) float32 category probabilities of M meshes, each normalized and sampled with `seed`."""
        n = n_points or self.config.n_points
        device = next(self.parameters()).device
        self.eval()
        probs = []
        for start in range(0, len(meshes), batch_size):
            points = np.stack([surface_points(m, n, seed) for m in meshes[start : start + batch_size]])
            logits = self(torch.from_numpy(points).to(device))
            probs.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        return np.concatenate(probs) if probs else np.zeros((0, len(self.config.categories)), np.float32)

    def classify(self, mesh: PartMesh, n_points: int | None = None, seed: int = 0) -> tuple[str, np.ndarray]:
        """The most likely category of `mesh` and the (C,) probabilities of `config.categories`.

        Args:
            mesh: any `PartMesh`; it is normalized to [-1, 1]^3 first (its orientation is kept: +y up).
            n_points: surface samples (default `config.n_points`, 1024); seed: the sampling seed.
        """
        probs = self.predict([mesh], n_points, seed)[0]
        return self.config.categories[int(probs.argmax())], probs


def surface_points(mesh: PartMesh, n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) float32 area-weighted samples over all parts of `mesh` normalized to [-1, 1]^3: the input of
    a `PointClassifier`, at training and at inference."""
    mesh = mesh.normalized()
    points, _, _ = sample_surface(mesh.verts_packed(), mesh.faces_packed(), n, seed)
    return points


def category_accuracy(meshes: Sequence[PartMesh], categories: Sequence[str],
                      model: PointClassifier | str | Path | None = None, seed: int = 0) -> float:
    """The share of `meshes` the classifier puts in their prompted category.

    Args:
        meshes: generated objects, in the dataset frame (+y up).
        categories: the prompted category of each mesh, names of the model's `config.categories`.
        model: a `PointClassifier`, a checkpoint directory, or None for the shipped `models/parts-classifier`
            (`gfx.models.model_path("mesh-classifier")`).
        seed: the surface-sampling seed.
    """
    if len(meshes) != len(categories):
        raise ValueError(f"got {len(meshes)} meshes but {len(categories)} categories; pass one category per mesh")
    if not meshes:
        raise ValueError("category_accuracy needs at least one mesh")
    if not isinstance(model, PointClassifier):
        from gfx.models import model_path

        model = PointClassifier.from_pretrained(model if model is not None else model_path(SHIPPED_TASK))
    known = model.config.categories
    unknown = sorted(set(categories) - set(known))
    if unknown:
        raise ValueError(f"the classifier does not know {', '.join(unknown)}; it knows {', '.join(known)}")
    predicted = model.predict(list(meshes), seed=seed).argmax(axis=1)
    return float(np.mean([known[k] == name for k, name in zip(predicted, categories, strict=True)]))
