"""Attention hooks: processors that see a denoiser's attention, chosen by what a layer attends over, not its name.

diffusers runs every `Attention` module through a swappable processor. `HookedAttnProcessor` reproduces the
default one (`AttnProcessor2_0`) operation for operation, with one seam, `attend(attn, query, key, value, mask)`,
that subclasses override: `CaptureProcessor` records cross-attention probabilities, `gfx.image.t2is` shares
self-attention keys and values across a set of images. `swap_processors` installs processors on the layers a
predicate picks and gives the originals back.

    store = AttentionStore()
    with swap_processors(pipe.unet, lambda attn: attn.is_cross_attention, lambda attn: CaptureProcessor(store)):
        pipe.unet(latents, t, encoder_hidden_states=states)
    maps = store.maps()            # (B, heads, HW, T) at the resolution with the most cross-attention layers

Layers are told apart by their number of queries (HW of the feature map they see), so the same code picks
the 16x16 layers of Stable Diffusion 1.x at 512 px, the 32x32 ones of SDXL and whatever a tiny model has.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F


def attention_modules(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Module]]:
    """(name, module) of every diffusers `Attention` in `model`, in module order."""
    from diffusers.models.attention_processor import Attention

    return ((name, m) for name, m in model.named_modules() if isinstance(m, Attention))


@contextlib.contextmanager
def swap_processors(model: torch.nn.Module, select: Callable[[torch.nn.Module], bool],
                    make: Callable[[torch.nn.Module], object]) -> Iterator[int]:
    """Give every `Attention` of `model` for which `select(attn)` holds the processor `make(attn)`, and restore
    the original processors on exit. Yields how many layers were swapped."""
    originals = {}
    try:
        for name, attn in attention_modules(model):
            if select(attn):
                originals[name] = attn.processor
                attn.set_processor(make(attn))
        yield len(originals)
    finally:
        modules = dict(model.named_modules())
        for name, processor in originals.items():
            modules[name].set_processor(processor)


class HookedAttnProcessor:
    """diffusers' `AttnProcessor2_0`, step for step, with `attend` as the one place subclasses change.

    With `attend` left alone its outputs are bit-identical to the default processor's.
    """

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args, **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch_size, sequence_length, _ = context.shape
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key, value = attn.to_k(encoder_hidden_states), attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)  # (B, heads, HW, d)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)  # (B, heads, T, d)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        hidden_states = self.attend(attn, query, key, value, attention_mask)  # (B, heads, HW, d)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim).to(query.dtype)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor

    def attend(self, attn, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               mask: torch.Tensor | None) -> torch.Tensor:
        """query: (B, heads, Q, d); key, value: (B, heads, T, d); mask: None or broadcastable to (B, heads, Q, T).
        Returns (B, heads, Q, d)."""
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False)


class AttentionStore:
    """Cross-attention probabilities of the last denoiser call, one entry per layer.

    Args:
        queries: record only layers with this many queries (HW); None records every layer.
    """

    def __init__(self, queries: int | None = None):
        self.queries = queries
        self.layers: dict[int, dict[int, torch.Tensor]] = {}  # queries -> {id(attn): (B, heads, HW, T)}

    def wants(self, queries: int) -> bool:
        return self.queries is None or queries == self.queries

    def record(self, attn, probs: torch.Tensor) -> None:
        """probs: (B, heads, HW, T), kept with its autograd graph."""
        self.layers.setdefault(probs.shape[2], {})[id(attn)] = probs

    def clear(self) -> None:
        self.layers.clear()

    def resolutions(self) -> dict[int, int]:
        """{queries: number of layers recorded} of the last call."""
        return {q: len(layers) for q, layers in self.layers.items()}

    def maps(self, queries: int | None = None) -> torch.Tensor:
        """(B, heads, HW, T) probabilities averaged over the layers with `queries` queries; None picks the query
        count with the most layers (the larger one on a tie)."""
        if not self.layers:
            raise RuntimeError("no attention recorded: run the denoiser with CaptureProcessor installed first")
        if queries is None:
            queries = max(self.layers, key=lambda q: (len(self.layers[q]), q))
        if queries not in self.layers:
            raise KeyError(f"no layer with {queries} queries was recorded; recorded: {sorted(self.layers)}")
        return torch.stack(list(self.layers[queries].values())).mean(0)


class CaptureProcessor(HookedAttnProcessor):
    """The default computation, plus the softmax probabilities written to `store` (for the layers it wants)."""

    def __init__(self, store: AttentionStore):
        self.store = store

    def attend(self, attn, query, key, value, mask):
        out = super().attend(attn, query, key, value, mask)
        if self.store.wants(query.shape[2]):
            scores = query @ key.transpose(-1, -2) * attn.scale  # (B, heads, HW, T)
            if mask is not None:
                scores = scores + mask
            self.store.record(attn, scores.softmax(-1))
        return out


def capture_cross_attention(model: torch.nn.Module, store: AttentionStore):
    """Context manager: every cross-attention layer of `model` records into `store` while it is open."""
    return swap_processors(model, lambda attn: attn.is_cross_attention, lambda attn: CaptureProcessor(store))


class AttentionCapture:
    """A denoising hook that averages each image's conditional cross-attention maps over the steps.

    After the run, `maps` is (B, HW, T): heads, layers at the chosen resolution and steps averaged; `queries`
    is HW. With classifier-free guidance the denoiser sees [uncond; cond]; only the conditional half counts.

    Args:
        queries: the layers to read (HW); None: the query count with the most cross-attention layers.
    """

    def __init__(self, queries: int | None = None):
        self.store = AttentionStore(queries)
        self.maps: torch.Tensor | None = None
        self.queries = queries
        self._steps = 0
        self._swap = None

    def setup(self, pipe, prompts) -> None:
        self.maps, self._steps = None, 0
        self._swap = capture_cross_attention(pipe.unet, self.store)
        self._swap.__enter__()

    def _collect(self) -> None:
        if not self.store.layers:
            return
        maps = self.store.maps(self.queries).detach()
        maps = maps[len(maps) // 2:].mean(1)  # conditional half, heads averaged: (B, HW, T)
        self.maps = maps if self.maps is None else self.maps + maps
        self.queries = maps.shape[1]
        self._steps += 1
        self.store.clear()

    def before_step(self, step, t, latents, cond):
        self._collect()
        return latents, cond

    def teardown(self, pipe) -> None:
        self._collect()
        self._swap.__exit__(None, None, None)
        if self.maps is not None:
            self.maps = self.maps / self._steps
