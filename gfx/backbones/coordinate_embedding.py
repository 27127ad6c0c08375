"""Structured coordinate embeddings: fixed Fourier features of a lattice value plus a learned residual.

The frozen-embedding idea (Bochkov 2025, arXiv 2507.04886: a frozen input table computed once from token
glyphs) moved to numeric tokens: a coordinate bin's vector is a fixed function of its value, so
neighbouring bins start close and rare bins are not left at random init; a learned residual table,
zero at init, lets training correct it. It replaces one learned table (`nn.Embedding(n, d)`) at the
same parameter count: the residual has n * d parameters, the features none.

    table = FourierCoordinateEmbedding(97, 128)          # a drop-in for nn.Embedding(97, 128)
    vectors = table(torch.tensor([0, 48, 96]))           # (3, 128)

`TransformerConfig.coordinate_embedding = "fourier"` uses it for the extra tables (IconShop's x and y).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def fourier_features(n_values: int, dim: int) -> Tensor:
    """Sin/cos features of the values 0..n_values-1 scaled to u in [0, 1].

    Angles pi * u * f_k with f_k geometric from 1 (half a period over the range, so cos alone already
    orders the values) to n_values - 1 (a period of two bins, the lattice's Nyquist rate).

    Returns:
        (n_values, dim) float32, [sin | cos] halves; every row has norm sqrt(dim / 2).
    """
    if dim % 2 or dim < 2 or n_values < 2:
        raise ValueError(f"need an even dim >= 2 and n_values >= 2, got dim {dim}, n_values {n_values}")
    half = dim // 2
    u = torch.arange(n_values, dtype=torch.float64) / (n_values - 1)  # (n,)
    freqs = (n_values - 1) ** (torch.arange(half, dtype=torch.float64) / max(half - 1, 1))  # (half,)
    angles = math.pi * u[:, None] * freqs[None, :]  # (n, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


class FourierCoordinateEmbedding(nn.Module):
    """`nn.Embedding`-like table: `scale * fourier_features(n, d)[i] + residual[i]`.

    Args:
        n_values: lattice values (bins) on the axis.
        dim: embedding width (even).
        std: per-entry RMS of the fixed features (default 0.02, a learned table's init std).

    The features are a non-persistent buffer (no gradient, not saved: the config rebuilds them); the
    learned `residual` starts at zero, so a fresh table is exactly the scaled features.
    """

    def __init__(self, n_values: int, dim: int, std: float = 0.02):
        super().__init__()
        # sqrt(2): sin^2 + cos^2 = 1 per pair, so the raw features have per-entry RMS 1/sqrt(2)
        self.register_buffer("features", fourier_features(n_values, dim) * std * math.sqrt(2), persistent=False)
        self.residual = nn.Parameter(torch.zeros(n_values, dim))

    def forward(self, ids: Tensor) -> Tensor:
        """ids (...) long -> (..., dim)."""
        return self.features[ids] + self.residual[ids]
