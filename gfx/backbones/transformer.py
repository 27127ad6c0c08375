"""A decoder-only transformer (RMSNorm, RoPE, SwiGLU, SDPA attention) with an explicit KV cache.

Options every gfx generator needs:
- prefix conditioning: a sequence of context vectors (MiniLM token states, image features) projected
  to the model width and placed before the tokens;
- per-token extra embeddings (e.g. the x and y bins of a point token), looked up from a table that
  maps each token id to its extra ids and is saved with the weights; learned, or fixed Fourier features
  of the bin plus a learned residual (`coordinate_embedding = "fourier"`, `coordinate_embedding.py`);
- lexinvariant ID tokens: a range of label-like ids embedded (and predicted) through random vectors
  drawn per sequence (`lexinvariant_ids = (start, stop)`, `lexinvariant.py`);
- SkipDecode: later positions run fewer layers, on a schedule that keeps the KV cache valid
  (`skip_decode = (min_layers, start, stop)`, `skip_mode`, `skip_decode.py`);
- arbitrary attention masks and position ids per forward (tree attention, infilling).

    model = Transformer(TransformerConfig.from_name("tiny", vocab_size=301))
    cache = model.new_cache(batch_size=2, max_len=128)
    logits = model(tokens, cache=cache)                  # (B, T, V); cache now holds T slots
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.coordinate_embedding import FourierCoordinateEmbedding
from gfx.backbones.kv_cache import KVCache
from gfx.backbones.layers import (
    Attention,
    RMSNorm,
    SwiGLU,
    diagonal_mask,
    init_weights,
    rope_angles,
    scaled_residual_std,
)
from gfx.backbones.lexinvariant import LexinvariantIds
from gfx.backbones.skip_decode import SkipSchedule
from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin

COORDINATE_EMBEDDINGS = ("learned", "fourier")


@dataclass
class TransformerConfig(ConfigMixin):
    """Shape and behaviour of a `Transformer`. Presets: tiny, mini, small, base."""

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(d_model=32, n_layer=2, n_head=2, max_seq_len=256),
        "mini": dict(d_model=128, n_layer=4, n_head=4, max_seq_len=512),
        "small": dict(d_model=256, n_layer=6, n_head=8, max_seq_len=1024),
        "base": dict(d_model=512, n_layer=8, n_head=8, max_seq_len=1024),
    }

    vocab_size: int = 512
    d_model: int = 256
    n_layer: int = 6
    n_head: int = 8
    n_kv_head: int = 0  # 0: same as n_head; fewer gives grouped-query attention
    mlp_hidden: int = 0  # 0: 8/3 * d_model rounded up to a multiple of 32
    max_seq_len: int = 1024  # prefix + tokens
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    dropout: float = 0.0
    tie_embeddings: bool = True
    prefix_dim: int = 0  # width of conditioning vectors; 0: no prefix conditioning
    extra_vocab_sizes: tuple[
        int, ...
    ] = ()  # one extra embedding table per entry (e.g. (bins, bins) for x, y)
    init_std: float = 0.02
    coordinate_embedding: str = "learned"  # extra tables: "learned" or "fourier" (fixed features + residual)
    lexinvariant_ids: tuple[int, ...] = ()  # (start, stop): ids with per-sequence random embeddings; (): none
    skip_decode: tuple[int, ...] = ()  # (min_layers, start, stop): depth n_layer -> min_layers over positions; (): off
    skip_mode: str = "exit"  # SkipDecode: "exit" (first layers, head there) or "skip" (layer 0 + top layers)

    def __post_init__(self):
        if self.coordinate_embedding not in COORDINATE_EMBEDDINGS:
            raise ValueError(
                f"coordinate_embedding {self.coordinate_embedding!r} is not one of {COORDINATE_EMBEDDINGS}"
            )
        if self.d_model % self.n_head or (self.d_model // self.n_head) % 2:
            raise ValueError(f"d_model {self.d_model} must split into {self.n_head} heads of even width")
        if self.lexinvariant_ids and (len(self.lexinvariant_ids) != 2 or self.lexinvariant_ids[1] > self.vocab_size):
            raise ValueError(f"lexinvariant_ids {self.lexinvariant_ids} must be (start, stop) with stop <= vocab_size")
        if self.n_head % (self.n_kv_head or self.n_head):
            raise ValueError(f"n_head {self.n_head} must be a multiple of n_kv_head {self.n_kv_head}")
        SkipSchedule.from_config(self)  # validates skip_decode and skip_mode

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def hidden_dim(self) -> int:
        return self.mlp_hidden or 32 * -(-8 * self.d_model // 3 // 32)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attn = Attention(config.d_model, config.n_head, config.kv_heads, config.dropout)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = SwiGLU(config.d_model, config.hidden_dim)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, rope, mask, cache=None, layer=0, valid=None) -> Tensor:
        x = x + self.drop(self.attn(self.attn_norm(x), rope, mask, cache, layer, valid))
        return x + self.drop(self.mlp(self.mlp_norm(x)))


class Transformer(nn.Module, PretrainedMixin):
    """Decoder-only transformer language model over one token vocabulary."""

    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        extra_table = (
            nn.Embedding
            if config.coordinate_embedding == "learned"
            else lambda n, d: FourierCoordinateEmbedding(n, d, config.init_std)
        )
        self.extra = nn.ModuleList(extra_table(n, config.d_model) for n in config.extra_vocab_sizes)
        # token id -> extra ids, -1 = none; filled by the tokenizer's owner via set_token_extra_ids
        table = torch.full((config.vocab_size, len(config.extra_vocab_sizes)), -1, dtype=torch.long)
        self.register_buffer("token_extra_ids", table)
        self.lexinvariant = (
            LexinvariantIds(*config.lexinvariant_ids, config.d_model) if config.lexinvariant_ids else None
        )
        self.prefix_proj = nn.Linear(config.prefix_dim, config.d_model) if config.prefix_dim else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.skip = SkipSchedule.from_config(config)
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(lambda m: init_weights(m, config.init_std))
        residual_std = scaled_residual_std(config.init_std, config.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.proj.weight, 0.0, residual_std)
            nn.init.normal_(block.mlp.down.weight, 0.0, residual_std)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed.weight

    def set_token_extra_ids(self, table: Tensor) -> None:
        """Set the token -> extra-embedding ids table: (vocab_size, len(extra_vocab_sizes)) long, -1 = none."""
        if tuple(table.shape) != tuple(self.token_extra_ids.shape):
            raise ValueError(
                f"extra-ids table must be {tuple(self.token_extra_ids.shape)}, got {tuple(table.shape)}"
            )
        limits = torch.tensor(self.config.extra_vocab_sizes, dtype=torch.long)
        if (table >= limits).any():
            raise ValueError(f"extra ids must be below extra_vocab_sizes {self.config.extra_vocab_sizes}")
        self.token_extra_ids.copy_(table)

    def new_cache(self, batch_size: int, max_len: int | None = None, device=None, dtype=None) -> KVCache:
        """A preallocated cache for `batch_size` rows and `max_len` slots (default: max_seq_len)."""
        c = self.config
        param = self.embed.weight
        return KVCache(
            c.n_layer,
            batch_size,
            c.kv_heads,
            c.head_dim,
            max_len or c.max_seq_len,
            dtype=dtype or param.dtype,
            device=device or param.device,
        )

    def embed_tokens(self, tokens: Tensor, extra_ids: Tensor | None = None) -> Tensor:
        """Token plus extra embeddings: tokens (B, T) long, extra_ids (B, T, E) long or None -> (B, T, C)."""
        x = self.embed(tokens)
        if self.extra:
            ids = self.token_extra_ids[tokens] if extra_ids is None else extra_ids
            for e, table in enumerate(self.extra):
                present = ids[..., e] >= 0
                x = x + table(ids[..., e].clamp(min=0)) * present.unsqueeze(-1).to(x.dtype)
        return x if self.lexinvariant is None else self.lexinvariant.embed(tokens, x)

    def hidden(
        self,
        tokens: Tensor | None,
        *,
        prefix: Tensor | None = None,
        prefix_mask: Tensor | None = None,
        cache: KVCache | None = None,
        attention_mask: Tensor | None = None,
        position_ids: Tensor | None = None,
        attn_mask: Tensor | None = None,
        extra_ids: Tensor | None = None,
        embeds: Tensor | None = None,
    ) -> Tensor:
        """Final hidden states of the token positions.

        Args:
            tokens: (B, T) long token ids; None when `embeds` is given.
            prefix: (B, P, prefix_dim) conditioning vectors, placed before the tokens; give it only on
                the first call of a cached decode.
            prefix_mask: (B, P) bool, False for padded prefix entries.
            cache: KV cache to read and append to; None runs without one.
            attention_mask: (B, T) bool, False for padding tokens (never attended to).
            position_ids: (B, P + T) long RoPE positions; default: consecutive from the cache position. A
                SkipDecode schedule reads them too.
            attn_mask: (B, P + T, S) bool, True where a query may attend a key slot, S = cached slots +
                P + T; replaces the default causal mask (tree attention, infilling).
            extra_ids: (B, T, E) long per-token extra embedding ids; default: the token table.
            embeds: (B, T, d_model) input vectors used instead of token embeddings (continuous tokens,
                e.g. xAR's noisy image entities).

        Returns:
            (B, T, d_model) normed hidden states of the tokens (prefix positions are dropped), each from
            its SkipDecode exit layer where a schedule is on.
        """
        if (tokens is None) == (embeds is None):
            raise ValueError("give either tokens or embeds")
        x = self.embed_tokens(tokens, extra_ids) if embeds is None else embeds
        B, T = x.shape[:2]
        valid = (
            attention_mask
            if attention_mask is not None
            else torch.ones(B, T, dtype=torch.bool, device=x.device)
        )
        P = 0
        if prefix is not None:
            if self.prefix_proj is None:
                raise ValueError("this model has no prefix conditioning (prefix_dim = 0)")
            P = prefix.shape[1]
            x = torch.cat([self.prefix_proj(prefix.to(x.dtype)), x], dim=1)
            pmask = (
                prefix_mask
                if prefix_mask is not None
                else torch.ones(B, P, dtype=torch.bool, device=x.device)
            )
            valid = torch.cat([pmask.to(valid.device), valid], dim=1)
        N = P + T
        start = cache.position if cache is not None else 0
        if position_ids is None:
            if start + N > self.config.max_seq_len:
                raise ValueError(f"{start + N} positions exceed max_seq_len {self.config.max_seq_len}")
            position_ids = torch.arange(start, start + N, device=x.device).expand(B, N)
        rope = rope_angles(position_ids, self.config.head_dim, self.config.rope_base)
        mask = attn_mask
        plain = attention_mask is None and prefix_mask is None
        if mask is None and (cache is not None or not plain):
            past = cache.length if cache is not None else 0
            mask = (
                torch.ones(N, past + N, dtype=torch.bool, device=x.device).tril(past).expand(B, N, past + N)
            )
            if cache is None:
                mask = mask & valid[:, None, :]
                mask = mask | diagonal_mask(N, N, 0, x.device)  # padding queries see themselves
        x = self.drop(x)
        depth = None if self.skip is None else self.skip.depth(position_ids)  # (B, N) layers per position
        for i, block in enumerate(self.blocks):
            if depth is None:
                x = block(x, rope, mask, cache, i, valid)
            else:
                x = self.skip.run_block(block, i, x, depth, valid, rope=rope, mask=mask, cache=cache)
        if cache is not None:
            cache.commit(N)
        return self.norm(x[:, P:])

    def head(self, hidden: Tensor) -> Tensor:
        """Logits from hidden states: (..., d_model) -> (..., vocab_size); (B, T, d_model) with
        lexinvariant ids."""
        logits = self.lm_head(hidden)
        return logits if self.lexinvariant is None else self.lexinvariant.logits(hidden, logits)

    def forward(self, tokens: Tensor, *, logits_to_keep: int = 0, **kwargs) -> Tensor:
        """Logits (B, T, vocab_size) for every token position, or (B, n, V) for the last
        n = `logits_to_keep` > 0 (as in transformers; decoding needs only the last one). Other
        keyword arguments as in `hidden`."""
        hidden = self.hidden(tokens, **kwargs)
        return self.head(hidden[:, -logits_to_keep:] if logits_to_keep else hidden)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Next-token cross-entropy for a training batch (`batch_loss`); with lexinvariant ids, every call draws new
        ID vectors for the batch."""
        if self.lexinvariant is not None:
            self.lexinvariant.draw(batch["tokens"].shape[0], device=batch["tokens"].device)
        return batch_loss(self, batch)


def batch_loss(model, batch: dict[str, Tensor]) -> Tensor:
    """Next-token cross-entropy of a training batch under `model` (a `Transformer` or a `CausalLM`).

    Args:
        batch: "tokens" (B, T) long; optional "loss_mask" (B, T) bool marking the target tokens
            that count (default all but the first), "attention_mask" (B, T) bool, "prefix"
            (B, P, prefix_dim), "prefix_mask" (B, P) bool.
    """
    tokens = batch["tokens"]
    logits = model(
        tokens,
        prefix=batch.get("prefix"),
        prefix_mask=batch.get("prefix_mask"),
        attention_mask=batch.get("attention_mask"),
    )
    return next_token_loss(logits, tokens, batch.get("loss_mask"))


def next_token_loss(logits: Tensor, tokens: Tensor, loss_mask: Tensor | None = None) -> Tensor:
    """Mean cross-entropy of predicting tokens[:, 1:] from logits[:, :-1].

    Args:
        logits: (B, T, V).
        tokens: (B, T) long.
        loss_mask: (B, T) bool, True for the target tokens that count; default all of tokens[:, 1:].
    """
    targets = tokens[:, 1:]
    if loss_mask is not None:
        targets = targets.masked_fill(~loss_mask[:, 1:].bool(), -100)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
