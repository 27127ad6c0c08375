"""Order-free transformer blocks for sets of tokens (points, boxes, grid patches), and their embeddings.

The 3D models here attend over sets: surface points and latent queries (VAT), scale tokens of the VAT
generator. Order enters only through what the tokens carry
(coordinates, embeddings), never through a position index, so the blocks use no rotary embedding and
attend bidirectionally. With `cond_dim > 0` a block is a DiT block with adaLN-zero modulation: the
condition vector (timestep + text) sets the shift, scale and gate of both sublayers, and the gates start
at zero so every block starts as the identity (Peebles & Xie 2023; TRELLIS, the backbone of FullPart).
Attention and MLP layers are the shared ones of `gfx.backbones.layers`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.layers import Attention, SwiGLU


def fourier_features(points: Tensor, n_freqs: int) -> Tensor:
    """NeRF-style features of coordinates: (..., 3) -> (..., 3 + 6 * n_freqs), frequencies pi * 2^k."""
    freqs = math.pi * 2.0 ** torch.arange(n_freqs, device=points.device, dtype=torch.float32)
    angles = points.float()[..., None] * freqs  # (..., 3, F)
    return torch.cat([points.float(), angles.sin().flatten(-2), angles.cos().flatten(-2)], dim=-1)


def fourier_width(n_freqs: int) -> int:
    """Width of `fourier_features` for 3-D points."""
    return 3 + 6 * n_freqs


def full_mask(key_valid: Tensor | None, n_queries: int, batch: int, n_keys: int, device) -> Tensor:
    """(B, T, S) bool attention mask: every query sees every valid key (and itself, so no row is empty)."""
    if key_valid is None:
        return torch.ones(1, n_queries, n_keys, dtype=torch.bool, device=device).expand(batch, -1, -1)
    mask = key_valid[:, None, :].expand(batch, n_queries, n_keys)
    if n_queries == n_keys:
        mask = mask | torch.eye(n_keys, dtype=torch.bool, device=device)
    return mask


class SetBlock(nn.Module):
    """Pre-norm attention + SwiGLU block over an unordered token set, optionally adaLN-zero conditioned.

    Args:
        dim: token width.
        n_head: attention heads.
        cond_dim: width of the condition vector; 0 for an unconditioned block.
        mlp_ratio: hidden width of the MLP over `dim`.
    """

    def __init__(self, dim: int, n_head: int, cond_dim: int = 0, mlp_ratio: float = 8 / 3):
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, elementwise_affine=not cond_dim, eps=1e-6)
        self.attn = Attention(dim, n_head, n_head)
        self.mlp_norm = nn.LayerNorm(dim, elementwise_affine=not cond_dim, eps=1e-6)
        self.mlp = SwiGLU(dim, 32 * math.ceil(dim * mlp_ratio / 32))
        self.head_dim = dim // n_head
        self.modulation = None
        if cond_dim:
            self.modulation = nn.Linear(cond_dim, 6 * dim)
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)

    def forward(
        self,
        x: Tensor,
        cond: Tensor | None = None,
        key_valid: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Update tokens.

        Args:
            x: (B, T, dim) tokens.
            cond: (B, cond_dim), or (B, T, cond_dim) per token; needed iff the block is conditioned.
            key_valid: (B, T) bool, False for padding tokens that no one attends to.
            mask: (B or 1, T, T) bool, True where a query may attend a key; replaces `key_valid`
                (e.g. the block-causal mask of a next-scale model).
        """
        B, T, _ = x.shape
        ones = x.new_ones(1, 1, 1, self.head_dim // 2, dtype=torch.float32)
        rope = (ones, torch.zeros_like(ones))  # identity rotation: no token order
        mask = full_mask(key_valid, T, B, T, x.device) if mask is None else mask.expand(B, T, T)
        if self.modulation is None:
            x = x + self.attn(self.attn_norm(x), rope, mask)
            return x + self.mlp(self.mlp_norm(x))
        mod = self.modulation(F.silu(cond))
        if mod.dim() == 2:
            mod = mod[:, None]
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)
        x = x + gate1 * self.attn(self.attn_norm(x) * (1 + scale1) + shift1, rope, mask)
        return x + gate2 * self.mlp(self.mlp_norm(x) * (1 + scale2) + shift2)


class FinalLayer(nn.Module):
    """adaLN-modulated norm + zero-initialized linear output (DiT)."""

    def __init__(self, dim: int, cond_dim: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.modulation = nn.Linear(cond_dim, 2 * dim)
        self.out = nn.Linear(dim, out_dim)
        for layer in (self.modulation, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        mod = self.modulation(F.silu(cond))
        if mod.dim() == 2:
            mod = mod[:, None]
        shift, scale = mod.chunk(2, dim=-1)
        return self.out(self.norm(x) * (1 + scale) + shift)
