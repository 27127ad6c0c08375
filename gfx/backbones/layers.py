"""Transformer building blocks: RMSNorm, rotary embeddings, SwiGLU, attention with an explicit cache."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.kv_cache import KVCache


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned scale (no bias)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        norm = x.float().pow(2).mean(-1, keepdim=True).add(self.eps).rsqrt()
        return (x.float() * norm).type_as(x) * self.weight


def rope_angles(positions: Tensor, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    """Cosines and sines of the rotary embedding.

    Args:
        positions: (B, T) long absolute positions.

    Returns:
        cos, sin: (B, 1, T, head_dim // 2) float32.
    """
    inv_freq = base ** (
        -torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim
    )
    angles = positions.float()[:, None, :, None] * inv_freq  # (B, 1, T, D/2)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs (first half, second half) of `x`: (B, H, T, D) by the given angles."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class SwiGLU(nn.Module):
    """Gated MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Attention(nn.Module):
    """Multi-head (or grouped-query) self-attention with RoPE and an optional KV cache."""

    def __init__(self, dim: int, n_head: int, n_kv_head: int, dropout: float = 0.0):
        super().__init__()
        if dim % n_head or n_head % n_kv_head:
            raise ValueError(
                f"d_model {dim} must divide by n_head {n_head}, and n_head by n_kv_head {n_kv_head}"
            )
        self.n_head, self.n_kv_head, self.head_dim = n_head, n_kv_head, dim // n_head
        self.qkv = nn.Linear(dim, (n_head + 2 * n_kv_head) * self.head_dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.dropout = dropout

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        mask: Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
        valid: Tensor | None = None,
    ) -> Tensor:
        """Attend over the cached slots plus the new tokens.

        Args:
            x: (B, T, C) new token states.
            rope: cos, sin from `rope_angles` for the new tokens.
            mask: (B, T, S) bool, True where a query may attend a key slot (S = cached + T);
                None means plain causal attention without padding (training fast path).
            cache: the KV cache to append to, or None.
            layer: this layer's index in the cache.
            valid: (B, T) bool validity of the new tokens (False = padding); needed with a cache.
        """
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(
            [self.n_head * self.head_dim, self.n_kv_head * self.head_dim, self.n_kv_head * self.head_dim],
            dim=-1,
        )
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, nkv, T, hs)
        v = v.view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v, key_valid = cache.write(layer, k, v, valid)  # (B, nkv, S, hs), (B, S)
            mask = mask & key_valid[:, None, :]
            mask = mask | diagonal_mask(T, k.shape[2], k.shape[2] - T, x.device)  # a query always sees itself
            if cache.observer is not None:
                cache.observer(layer, q, k, mask)
        dropout = self.dropout if self.training else 0.0
        gqa = self.n_kv_head != self.n_head
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout, enable_gqa=gqa)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask[:, None], dropout_p=dropout, enable_gqa=gqa
            )
        y = y.transpose(1, 2).reshape(B, T, C)  # re-assemble all head outputs side by side
        return self.proj(y)


def diagonal_mask(rows: int, cols: int, offset: int, device) -> Tensor:
    """(rows, cols) bool, True at (i, offset + i): lets each query see its own slot."""
    eye = torch.zeros(rows, cols, dtype=torch.bool, device=device)
    eye[torch.arange(rows, device=device), offset + torch.arange(rows, device=device)] = True
    return eye


def block_causal_mask(query_blocks: Tensor, key_blocks: Tensor) -> Tensor:
    """Block-causal attention: a query sees every key of its own block and of earlier blocks.

    Args:
        query_blocks: (..., Q) long block index of each query (e.g. the xAR entity of a token; -1 for a
            text prefix every block sees).
        key_blocks: (..., S) long block index of each key slot.

    Returns:
        (..., Q, S) bool, True where query i may attend key j (key_blocks[j] <= query_blocks[i]).
    """
    return key_blocks[..., None, :] <= query_blocks[..., :, None]


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """GPT-2 style init: normal(0, std) for linear and embedding weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, 0.0, std)


def scaled_residual_std(std: float, n_layer: int) -> float:
    """Init std for projections that write into the residual stream (GPT-2: std / sqrt(2 L))."""
    return std / math.sqrt(2 * n_layer)
