"""xAR: next-X prediction with flow matching (docs/papers.md, xAR).

    model = XAR(XARConfig.from_name("mini", entity="cell"))
    loss = model.loss({"pixels": pixels, "prompts": prompts})         # pixels (B, 3, 64, 64) in [-1, 1]
    pipe = XARPipeline(model)
    results = pipe("a large red circle", n=4, seed=0, steps=20)

The image is pixel-unshuffled into a g x g grid of tokens (no autoencoder to train) and cut into entities X: one
token, a k x k cell of tokens, a scale (the whole grid area-downsampled to s x s, coarse to fine) or the whole
image. One shared `Transformer` reads the entities in order under a block-causal mask (an entity sees itself and the
entities before it, and the text prefix) and regresses, for every entity at once, the flow-matching velocity
eps - x of its noisy version x_t = (1 - t) x + t eps. Its inputs are the entity tokens plus a learned position and
the embedding of their t.

Noisy Context Learning (`ncl=True`): each entity draws its own t (logit-normal), so the context an entity sees is
noisy at the levels its predecessors drew. `ncl=False` is clean teacher forcing: the sequence is [clean entities |
noisy entities], a noisy entity sees the clean ones before it and itself.

Sampling goes entity by entity: Euler steps from t = 1 to 0 with the finished entities as clean (t = 0) context;
with the KV cache each finished entity is run once and kept, the entity being sampled is rolled back after every
step. Classifier-free guidance mixes the velocities of a conditional and an unconditional row; with
`guidance_ramp` its scale rises linearly over the entities, 1 for the first to the full scale for the last (the
official sampler's schedule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.layers import block_causal_mask, diagonal_mask
from gfx.backbones.text_encoder import TEXT_WIDTH
from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import PretrainedMixin, read_pipeline, save_pipeline
from gfx.config import ConfigMixin
from gfx.image.ar_pipeline import ARImagePipeline, TextCondition

ENTITIES = ("token", "cell", "scale", "image")
PREFIX_BLOCK = -1
"""Block index of the text prefix: every entity sees it."""


@dataclass
class XARConfig(ConfigMixin):
    """Shape and training behaviour of an `XAR` model. Presets: tiny (tests), mini.

    Attributes:
        image_size: side of the images in pixels; unshuffle: pixels per token side (grid g = image_size / unshuffle).
        entity: what one autoregressive step predicts: token, cell, scale or image.
        cell: k, the side of a cell entity in tokens (g must divide by k).
        scales: sides of the scale entities, coarse to fine, ending at g.
        d_model, n_layer, n_head: the transformer.
        ncl: Noisy Context Learning (each entity its own t); False: clean teacher forcing.
        t_mean, t_std: the logit-normal of t during training.
        max_prompt_tokens: MiniLM tokens of a prompt.
    """

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(image_size=16, cell=2, scales=(1, 2, 4), d_model=32, n_layer=2, n_head=2),
        "mini": dict(),
    }

    image_size: int = 64
    unshuffle: int = 4
    entity: str = "cell"
    cell: int = 8
    scales: tuple[int, ...] = (1, 2, 4, 8, 16)
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    ncl: bool = True
    t_mean: float = 0.0
    t_std: float = 1.0
    max_prompt_tokens: int = 32

    def __post_init__(self):
        if self.entity not in ENTITIES:
            raise ValueError(f"entity must be one of {', '.join(ENTITIES)}, not {self.entity!r}")
        if self.image_size % self.unshuffle:
            raise ValueError(f"image_size {self.image_size} must divide by unshuffle {self.unshuffle}")
        if self.entity == "cell" and self.grid % self.cell:
            raise ValueError(f"the token grid {self.grid} must divide by the cell side {self.cell}")
        if self.entity == "scale" and (not self.scales or self.scales[-1] != self.grid
                                       or list(self.scales) != sorted(self.scales)):
            raise ValueError(f"scales must increase and end at the token grid {self.grid}, got {self.scales}")

    @property
    def grid(self) -> int:
        return self.image_size // self.unshuffle

    @property
    def channels(self) -> int:
        """Values per token: 3 unshuffle^2."""
        return 3 * self.unshuffle**2


class EntityLayout:
    """How a (B, C, g, g) token grid becomes a sequence of entities and back.

    Attributes:
        entity_ids: (L,) long, the entity of each sequence slot (non-decreasing: entities are contiguous).
        sizes: tokens per entity.
    """

    def __init__(self, config: XARConfig):
        g, kind = config.grid, config.entity
        self.kind, self.grid, self.scales = kind, g, config.scales if kind == "scale" else (g,)
        rows, cols = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        side = {"token": 1, "cell": config.cell, "image": g, "scale": g}[kind]
        cell_of = (rows // side) * (g // side) + cols // side  # (g, g) entity of each grid token
        self.order = torch.argsort(cell_of.flatten() * g * g + torch.arange(g * g))  # cell by cell, row-major inside
        if kind == "scale":
            self.sizes = [s * s for s in self.scales]
        else:
            self.sizes = [side * side] * (g // side) ** 2
        self.entity_ids = torch.repeat_interleave(torch.arange(len(self.sizes)), torch.tensor(self.sizes))

    @property
    def length(self) -> int:
        return len(self.entity_ids)

    def starts(self) -> list[int]:
        """First sequence slot of each entity."""
        return [sum(self.sizes[:e]) for e in range(len(self.sizes))]

    def to_sequence(self, grid: Tensor) -> Tensor:
        """(B, C, g, g) -> (B, L, C) the entities' tokens in order (a scale entity: the grid area-downsampled)."""
        if self.kind == "scale":
            return torch.cat([F.adaptive_avg_pool2d(grid, s).flatten(2) for s in self.scales], 2).transpose(1, 2)
        return grid.flatten(2)[:, :, self.order.to(grid.device)].transpose(1, 2)

    def to_grid(self, sequence: Tensor) -> Tensor:
        """(B, L, C) -> (B, C, g, g) (scales: the finest)."""
        B, _, C = sequence.shape
        if self.kind == "scale":
            return sequence[:, -self.grid**2 :].transpose(1, 2).reshape(B, C, self.grid, self.grid)
        grid = torch.empty(B, C, self.grid**2, dtype=sequence.dtype, device=sequence.device)
        grid[:, :, self.order.to(sequence.device)] = sequence.transpose(1, 2)
        return grid.reshape(B, C, self.grid, self.grid)


def time_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of flow times t (...,) in [0, 1] -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[..., None] * freqs
    return torch.cat([angles.cos(), angles.sin()], -1)


def attention_mask(query_blocks: Tensor, key_blocks: Tensor, key_valid: Tensor) -> Tensor:
    """(B, Q, S) bool: block-causal over entities, padded prefix keys hidden, every query sees its own slot
    (the last Q keys are the queries' own slots)."""
    Q, S = query_blocks.shape[-1], key_blocks.shape[-1]
    mask = block_causal_mask(query_blocks, key_blocks) & key_valid[:, None, :]
    return mask | diagonal_mask(Q, S, S - Q, key_valid.device)


@dataclass
class NoisyInputs:
    """One training sequence (`XAR.training_inputs`).

    Attributes:
        x: (B, N, C) the tokens fed in (noisy; under teacher forcing the clean context first).
        t: (B, N) flow time of each slot (0 for clean context).
        slots: (N,) long sequence slot (position) of each input.
        blocks: (N,) long attention block of each input.
        target: (B, L, C) velocities eps - x of the noisy part (the last L inputs).
        teacher_forcing: the inputs are [clean context | noisy entities] (else the noisy entities only, NCL).
    """

    x: Tensor
    t: Tensor
    slots: Tensor
    blocks: Tensor
    target: Tensor
    teacher_forcing: bool


class XAR(nn.Module, PretrainedMixin):
    """The xAR model: entity tokens in, velocities out (see the module docstring)."""

    config_class = XARConfig

    def __init__(self, config: XARConfig):
        super().__init__()
        c = self.config = config
        self.layout = EntityLayout(c)
        L = self.layout.length
        self.backbone = Transformer(TransformerConfig(vocab_size=1, d_model=c.d_model, n_layer=c.n_layer,
                                                      n_head=c.n_head, max_seq_len=c.max_prompt_tokens + 2 * L,
                                                      prefix_dim=TEXT_WIDTH))
        self.inp = nn.Linear(c.channels, c.d_model)
        self.pos = nn.Parameter(torch.randn(L, c.d_model) * 0.02)
        self.time = nn.Sequential(nn.Linear(c.d_model, c.d_model), nn.SiLU(), nn.Linear(c.d_model, c.d_model))
        self.out = nn.Linear(c.d_model, c.channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def velocity(self, x: Tensor, t: Tensor, slots: Tensor, *, prefix: Tensor | None = None,
                 prefix_mask: Tensor | None = None, attn_mask: Tensor, cache=None,
                 position_ids: Tensor | None = None) -> Tensor:
        """Predicted velocities of entity tokens.

        Args:
            x: (B, N, C) tokens at times t: (B, N); slots: (N,) long their sequence slots.
            prefix, prefix_mask: (B, P, 384) MiniLM states and (B, P) mask, on the first call only.
            attn_mask: (B, P + N, S) bool over the key slots (cached + new).
            cache: the backbone's KV cache, or None.
        Returns:
            (B, N, C) velocities.
        """
        levels, index = t.unique(return_inverse=True)  # a call holds few noise levels: embed each once
        h = self.inp(x) + self.pos[slots] + self.time(time_embedding(levels, self.config.d_model))[index]
        h = self.backbone.hidden(None, embeds=h, prefix=prefix, prefix_mask=prefix_mask, cache=cache,
                                 attn_mask=attn_mask, position_ids=position_ids)
        return self.out(h)

    def sequence(self, pixels: Tensor) -> Tensor:
        """pixels (B, 3, S, S) in [-1, 1] -> the entity sequence (B, L, C)."""
        c = self.config
        if pixels.dim() != 4 or tuple(pixels.shape[1:]) != (3, c.image_size, c.image_size):
            raise ValueError(f"expected (B, 3, {c.image_size}, {c.image_size}) pixels, got {tuple(pixels.shape)}")
        return self.layout.to_sequence(F.pixel_unshuffle(pixels, c.unshuffle))

    def training_inputs(self, clean: Tensor, generator: torch.Generator | None = None) -> NoisyInputs:
        """The noisy training sequence of clean entity tokens (B, L, C): per-entity logit-normal t (NCL), or clean
        context before the noisy entities (teacher forcing)."""
        c, ids = self.config, self.layout.entity_ids.to(clean.device)
        B, L, _ = clean.shape
        E = len(self.layout.sizes)
        normal = torch.randn(B, E, generator=generator, device=clean.device)
        t = torch.sigmoid(c.t_mean + c.t_std * normal)[:, ids]  # (B, L): one t per entity
        eps = torch.randn(clean.shape, generator=generator, device=clean.device)
        noisy = (1 - t[..., None]) * clean + t[..., None] * eps
        slots = torch.arange(L, device=clean.device)
        if c.ncl:
            return NoisyInputs(noisy, t, slots, ids, eps - clean, False)
        context = ids < E - 1  # the last entity is never context
        x = torch.cat([clean[:, context], noisy], 1)
        zeros = torch.zeros(B, int(context.sum()), device=clean.device)
        return NoisyInputs(x, torch.cat([zeros, t], 1), torch.cat([slots[context], slots]),
                           torch.cat([ids[context], ids]), eps - clean, True)

    def input_mask(self, inputs: NoisyInputs, prefix_mask: Tensor) -> Tensor:
        """(B, P + N, P + N) bool attention of a training sequence after its text prefix (P states, mask (B, P))."""
        P, dev = prefix_mask.shape[1], prefix_mask.device
        blocks = torch.cat([torch.full((P,), PREFIX_BLOCK, device=dev), inputs.blocks])
        valid = torch.cat([prefix_mask, ones(len(prefix_mask), len(inputs.blocks), dev)], 1)
        if not inputs.teacher_forcing:
            return attention_mask(blocks, blocks, valid)
        # clean context (and the prefix) is block-causal among itself; noisy entity j sees the clean entities
        # before j and its own noisy tokens
        clean = torch.arange(len(blocks), device=dev) < len(blocks) - self.layout.length
        earlier, same = blocks[None, :] < blocks[:, None], blocks[None, :] == blocks[:, None]
        allowed = torch.where(clean[:, None], clean[None, :] & (earlier | same),
                              (clean[None, :] & earlier) | (~clean[None, :] & same))
        return (allowed[None] & valid[:, None, :]) | diagonal_mask(len(blocks), len(blocks), 0, dev)

    def loss(self, batch: dict) -> Tensor:
        """Flow-matching velocity MSE over every entity, conditioned on batch["prompts"]."""
        clean = self.sequence(batch["pixels"])
        condition = TextCondition.of(batch["prompts"], max_tokens=self.config.max_prompt_tokens, device=clean.device)
        inputs = self.training_inputs(clean)
        P = condition.prefix.shape[1]
        positions = torch.cat([torch.arange(P, device=clean.device), P + inputs.slots]).expand(len(clean), -1)
        v = self.velocity(inputs.x, inputs.t, inputs.slots, prefix=condition.prefix,
                          prefix_mask=condition.prefix_mask, attn_mask=self.input_mask(inputs, condition.prefix_mask),
                          position_ids=positions)
        return F.mse_loss(v[:, -self.layout.length :], inputs.target)


def guidance_scales(guidance: float, entities: int, ramp: bool) -> list[float]:
    """The guidance scale of each entity: constant, or rising linearly from 1 to `guidance` over the entities."""
    if not ramp or entities == 1:
        return [guidance] * entities
    return [1 + (guidance - 1) * e / (entities - 1) for e in range(entities)]


@dataclass
class XARSettings(ConfigMixin):
    """Sampling defaults saved with an `XARPipeline`."""

    steps: int = 20
    guidance: float = 3.0
    guidance_ramp: bool = False


class XARPipeline(ARImagePipeline):
    """Text -> image with an `XAR` model: Euler flow steps per entity, in order."""

    def __init__(self, model: XAR, settings: XARSettings | None = None):
        self.model, self.settings = model, settings or XARSettings()
        self.max_prompt_tokens = model.config.max_prompt_tokens

    @property
    def default_steps(self) -> int:
        return self.settings.steps

    @property
    def default_guidance(self) -> float:
        return self.settings.guidance

    @property
    def device(self) -> torch.device:
        return self.model.pos.device

    def noise(self, n: int, seed: int | None) -> Tensor:
        """(n, L, C) the starting noise of every entity."""
        shape = (n, self.model.layout.length, self.model.config.channels)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return torch.randn(shape, generator=generator).to(self.device)

    @torch.no_grad()
    def sample_sequence(self, condition: TextCondition, noise: Tensor, steps: int, guidance: float,
                        use_cache: bool = True, trace: list | None = None) -> Tensor:
        """Entity tokens (n, L, C) from `noise` (n, L, C); `trace` collects every velocity (n, size, C) computed.

        1. rows: conditional, then unconditional under guidance; 2. per entity, Euler steps t = 1 -> 0 with the
        finished entities as clean context (cached once, or recomputed every step without a cache);
        3. the finished entity joins the context.
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        model, layout = self.model, self.model.layout
        guided = guidance != 1.0
        scales = guidance_scales(guidance, len(layout.sizes), self.settings.guidance_ramp)
        prefix, prefix_mask = condition.rows(guided)  # 1.
        rows, P, dev = len(prefix), prefix.shape[1], self.device
        branches = 2 if guided else 1
        done = torch.empty(len(noise), 0, noise.shape[-1], device=dev)
        key_blocks = torch.full((P,), PREFIX_BLOCK, device=dev)
        key_valid = prefix_mask
        cache = model.backbone.new_cache(rows, P + layout.length) if use_cache else None
        for e, (start, size) in enumerate(zip(layout.starts(), layout.sizes, strict=True)):
            slots = torch.arange(start, start + size, device=dev)
            blocks = torch.full((size,), e, device=dev)
            x = noise[:, start : start + size]
            if cache is not None:  # the keys up to this entity and its queries' mask, built once per entity
                k_blocks, k_valid = torch.cat([key_blocks, blocks]), torch.cat([key_valid, ones(rows, size, dev)], 1)
                mask = attention_mask(blocks, k_blocks, k_valid)
            for i in range(steps):  # 2.
                t = 1 - i / steps
                if cache is not None:
                    first = cache.length == 0  # the very first call runs the prefix too
                    v = model.velocity(x.repeat(branches, 1, 1), full(rows, size, t, dev), slots,
                                       prefix=prefix if first else None, prefix_mask=prefix_mask if first else None,
                                       attn_mask=attention_mask(k_blocks, k_blocks, k_valid) if first else mask,
                                       cache=cache)
                    cache.rollback(size)
                else:
                    all_slots = torch.arange(start + size, device=dev)
                    blocks_all = torch.cat([key_blocks, layout.entity_ids[: start + size].to(dev)])
                    valid = torch.cat([key_valid, ones(rows, start + size, dev)], 1)
                    xs = torch.cat([done, x], 1).repeat(branches, 1, 1)
                    ts = torch.cat([torch.zeros(rows, start, device=dev), full(rows, size, t, dev)], 1)
                    v = model.velocity(xs, ts, all_slots, prefix=prefix, prefix_mask=prefix_mask,
                                       attn_mask=attention_mask(blocks_all, blocks_all, valid))[:, start:]
                if guided:
                    cond, uncond = v.chunk(2)
                    v = uncond + scales[e] * (cond - uncond)
                if trace is not None:
                    trace.append(v)
                x = x - v / steps  # Euler from t to t - 1/steps: dx/dt = eps - x0 = v
            done = torch.cat([done, x], 1)  # 3.
            if cache is not None and e < len(layout.sizes) - 1:
                model.velocity(x.repeat(branches, 1, 1), torch.zeros(rows, size, device=dev), slots,
                               attn_mask=mask, cache=cache)
                key_blocks, key_valid = k_blocks, k_valid
        return done

    def sample(self, condition: TextCondition, n: int, seed: int | None, steps: int, guidance: float,
               use_cache: bool = True) -> Tensor:
        """(n, 3, S, S) pixels in [-1, 1]."""
        sequence = self.sample_sequence(condition, self.noise(n, seed), steps, guidance, use_cache)
        return F.pixel_shuffle(self.model.layout.to_grid(sequence), self.model.config.unshuffle).clamp(-1, 1)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write model_index.json (with the sampling settings) and the `model/` folder."""
        return save_pipeline(directory, self, {"model": self.model}, self.settings, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> XARPipeline:
        """Load a pipeline written by `save_pretrained` (local only)."""
        files = read_pipeline(directory, cls.__name__, "xar")
        return cls(XAR.from_pretrained(files.path("model", "XAR"), device=device), XARSettings.from_dict(files.settings))


def ones(rows: int, n: int, device) -> Tensor:
    return torch.ones(rows, n, dtype=torch.bool, device=device)


def full(rows: int, n: int, t: float, device) -> Tensor:
    return torch.full((rows, n), t, device=device)
