"""Geom-Erasing (Liu et al., ECCV 2024): remove an implicit concept (a watermark, our world's corner mark) that a
model draws without being asked, by teaching it the concept's name and place in words, then guiding away from them.

    results = pipe("a large red circle", controls=[GeomErasing("models/geom-erasing")])   # fewer marks
    model = ErasingTraining(pipe, ErasingConfig("<mark>", grid=(4, 4)))   # model.loss(batch): the training loss

The method (no official code; what gfx follows is written out in docs/papers.md, "Geom-Erasing"):
1. Location tokens `<l0>` .. `<l{N-1}>`: the bins of an nx x ny grid over the image, row-major from the top left
   (`location_tokens`); `box_tokens(box, grid)` names every bin a box covers.
2. Each training image where an external detector found the concept gets the caption
   `caption + " " + concept + " " + the location tokens of its box` (`augment_caption`). The concept is a new
   placeholder word when written in angle brackets ("<mark>"), else a word the tokenizer already has ("watermark").
3. The diffusion loss is reweighted by region (`region_weights`): with T latent positions, K of them inside the
   concept's box, w = T / (K + a (T - K)) inside and a T / (K + a (T - K)) outside; the weights sum to T and
   inside / outside = 1 / a (a < 1 stresses the concept's region).
4. Model removal: only the new token vectors train (injected at the text encoder's input, every weight frozen);
   data removal: the UNet trains with them (`ErasingTraining(train_unet=True)`).
   gfx's option, not the paper's: `grounding_weight` adds TokenCompose's token loss (`gfx.image.grounding`) so the
   concept's and location tokens' cross-attention falls on the concept's box; the tokens then take over the region
   they name, and a negative prompt of them has something to steer away from.
5. Inference: the concept and all location tokens are the negative prompt of classifier-free guidance
   (`GeomErasing`, a control whose `negative(pipe)` the denoising loop asks).

Initialisation (ours; the paper does not say): location tokens from a 2-D sin-cos code of their bin (GeoDiffusion's
option), scaled to the median norm of the embedding table's rows; a placeholder concept from the embedding of an
existing word (`ErasingConfig.concept_init`).

Files of a learned concept (`ErasingEmbeddings.save`): `learned_embeds.safetensors` {token: (D,) float32} and
`geom_erasing.json` (the `ErasingConfig`). diffusers reads the same vectors as textual inversions:

    vectors = safetensors.torch.load_file(f"{directory}/learned_embeds.safetensors")
    sd_pipe.load_textual_inversion(list(vectors.values()), token=list(vectors))
    sd_pipe(prompt, negative_prompt=ErasingEmbeddings.load(directory).negative_prompt())
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gfx.config import ConfigMixin
from gfx.image.attention import AttentionStore, capture_cross_attention
from gfx.image.codec import latent_codec
from gfx.image.denoise import Weight, image_size, in_window
from gfx.image.diffusion_loss import denoising_error
from gfx.image.grounding import grounding_losses
from gfx.image.token_injection import (
    EMBEDDINGS_NAME,
    inject_embeddings,
    load_vectors,
    save_vectors,
    set_token_embeddings,
)

CONFIG_NAME = "geom_erasing.json"


@dataclass
class ErasingConfig(ConfigMixin):
    """What a learned concept is called and where it can be.

    Attributes:
        concept: its word in prompts: a placeholder in angle brackets (learned) or a word the tokenizer has (kept).
        grid: (nx, ny) location bins over the image.
        concept_init: the existing word whose embedding starts a placeholder concept.
        scale: how `GeomErasing` steers away by default: None, the concept's text replaces the empty prompt of
            guidance (the paper); a number, a guidance term of its own with that scale.
        window, region: `GeomErasing`'s defaults for where in the loop and where in the image that term acts (None:
            everywhere); region is a tuple of boxes, e.g. the concept's boxes in training.
    """

    concept: str = "<mark>"
    grid: tuple[int, int] = (4, 4)
    concept_init: str = "mark"
    scale: float | None = None
    window: tuple[float, float] | None = None
    region: tuple[tuple[float, float, float, float], ...] | None = None

    @property
    def learns_concept(self) -> bool:
        return self.concept.startswith("<") and self.concept.endswith(">")

    def tokens(self) -> list[str]:
        """The learned tokens: the placeholder concept (if it is one), then the location tokens."""
        return ([self.concept] if self.learns_concept else []) + location_tokens(self.grid)


def location_tokens(grid: tuple[int, int]) -> list[str]:
    """["<l0>", ..., "<l{nx ny - 1}>"]: bin (row r, column c) is `<l{r nx + c}>`, row 0 at the top."""
    nx, ny = grid
    if nx < 1 or ny < 1:
        raise ValueError(f"grid must be at least 1x1, got {grid}")
    return [f"<l{i}>" for i in range(nx * ny)]


def box_tokens(box: Sequence[float], grid: tuple[int, int]) -> list[str]:
    """The location tokens of every bin box (x0, y0, x1, y1) covers, row-major.

    Args:
        box: in fractions of the image's width and height, y down; clipped to [0, 1].
    """
    nx, ny = grid
    x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {tuple(box)} is empty inside the image; give (x0, y0, x1, y1) with x0 < x1, y0 < y1")

    def span(lo: float, hi: float, n: int) -> range:
        first = min(int(lo * n), n - 1)
        return range(first, min(max(math.ceil(hi * n - 1e-9), first + 1), n))

    return [f"<l{r * nx + c}>" for r in span(y0, y1, ny) for c in span(x0, x1, nx)]


def augment_caption(caption: str, concept: str, locations: Sequence[str], tokenizer=None) -> str:
    """`caption + " " + concept + " " + locations`. With a tokenizer, the caption's last words are dropped until the
    text fits its `model_max_length`, so truncation never cuts the appended tokens."""
    suffix = " ".join([concept, *locations])
    words = caption.split()
    while True:
        text = " ".join([*words, suffix])
        if tokenizer is None or len(tokenizer(text, verbose=False).input_ids) <= tokenizer.model_max_length:
            return text
        if not words:
            raise ValueError(f"{suffix!r} alone exceeds the tokenizer's {tokenizer.model_max_length} tokens; "
                             "use a coarser grid")
        words.pop()


def region_mask(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) bool: the latent positions whose cell overlaps each box.

    Args:
        boxes: (B, 4) (x0, y0, x1, y1) in fractions of the image side, y down; an empty box (e.g. zeros) covers
            nothing.
        size: (h, w) of the latent.
    """
    h, w = size
    x0, y0, x1, y1 = boxes.float().unbind(-1)
    cols = torch.arange(w, device=boxes.device)
    rows = torch.arange(h, device=boxes.device)
    x_in = (cols / w < x1[:, None]) & ((cols + 1) / w > x0[:, None])  # (B, w)
    y_in = (rows / h < y1[:, None]) & ((rows + 1) / h > y0[:, None])  # (B, h)
    return y_in[:, :, None] & x_in[:, None, :]


def region_weights(mask: torch.Tensor, alpha: float) -> torch.Tensor:
    """(B, h, w) loss weights: T / (K + a (T - K)) inside the region, a T / (K + a (T - K)) outside.

    Args:
        mask: (B, h, w) bool, the concept's region (K = its positions, T = h w).
        alpha: a > 0, the outside / inside weight ratio (1: plain loss).
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    total = mask[0].numel()
    inside = mask.flatten(1).sum(1).float()  # (B,)
    scale = total / (inside + alpha * (total - inside))
    return torch.where(mask, scale[:, None, None], (alpha * scale)[:, None, None])


def sincos_codes(grid: tuple[int, int], dim: int) -> torch.Tensor:
    """(nx ny, dim) 2-D sin-cos codes of the bins' (row, column): half the channels per axis."""
    nx, ny = grid
    quarter = -(-dim // 4)
    omega = 1.0 / 10000 ** (torch.arange(quarter) / quarter)
    rows, cols = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")

    def code(position: torch.Tensor) -> torch.Tensor:
        angle = position.flatten()[:, None].float() * omega
        return torch.cat([angle.sin(), angle.cos()], 1)

    return torch.cat([code(rows), code(cols)], 1)[:, :dim]


@dataclass(frozen=True, eq=False)
class ErasingEmbeddings:
    """A learned concept: its config and the vectors of its tokens, {token: (D,)}."""

    config: ErasingConfig
    vectors: Mapping[str, torch.Tensor]

    @classmethod
    def initial(cls, pipe, config: ErasingConfig) -> ErasingEmbeddings:
        """Starting vectors for `pipe`'s text encoder (see the module docstring)."""
        table = pipe.text_encoder.get_input_embeddings().weight.detach().float().cpu()
        codes = sincos_codes(config.grid, table.shape[1])
        codes = codes / codes.norm(dim=1, keepdim=True) * table.norm(dim=1).median()
        vectors = dict(zip(location_tokens(config.grid), codes, strict=True))
        if config.learns_concept:
            ids = pipe.tokenizer(config.concept_init, add_special_tokens=False).input_ids
            if not ids:
                raise ValueError(f"concept_init {config.concept_init!r} has no tokens; give an existing word")
            vectors = {config.concept: table[ids].mean(0), **vectors}
        return cls(config, vectors)

    @classmethod
    def load(cls, directory: str | Path) -> ErasingEmbeddings:
        """Read what `save` wrote."""
        directory = Path(directory)
        if not (directory / EMBEDDINGS_NAME).is_file() or not (directory / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"{directory} holds no learned concept ({EMBEDDINGS_NAME} + {CONFIG_NAME}); "
                                    "train one with `gfx train geom-erasing`")
        config = ErasingConfig.from_json(directory / CONFIG_NAME)
        vectors = load_vectors(directory / EMBEDDINGS_NAME)
        missing = sorted(set(config.tokens()) - set(vectors))
        if missing:
            raise ValueError(f"{directory / EMBEDDINGS_NAME} lacks the vectors of {missing[:4]}")
        return cls(config, {t: vectors[t] for t in config.tokens()})

    def save(self, directory: str | Path) -> Path:
        """Write `learned_embeds.safetensors` and `geom_erasing.json` into `directory`."""
        from gfx.files import write_text

        directory = Path(directory)
        save_vectors(directory / EMBEDDINGS_NAME, self.vectors)
        write_text(directory / CONFIG_NAME, self.config.to_json())
        return directory

    def install(self, pipe) -> list[int]:
        """Put the vectors into `pipe`'s tokenizer and embedding table (adding the tokens); returns their ids."""
        return set_token_embeddings(pipe.tokenizer, pipe.text_encoder, self.vectors)

    def negative_prompt(self, locations: Sequence[int] | None = None) -> str:
        """The concept and the location tokens of `locations` (bin indices; default all): "<mark> <l0> ... <l15>"."""
        names = location_tokens(self.config.grid)
        return " ".join([self.config.concept, *(names if locations is None else [names[i] for i in locations])])


def checked_boxes(boxes) -> tuple[tuple[float, float, float, float], ...]:
    """`boxes` as a tuple of (x0, y0, x1, y1) floats, or ValueError unless each is 0 <= x0 < x1 <= 1,
    0 <= y0 < y1 <= 1."""
    def valid(box) -> bool:
        return len(box) == 4 and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1

    try:
        boxes = tuple(tuple(float(v) for v in box) for box in boxes)
    except TypeError:
        boxes = ()
    if not boxes or not all(valid(box) for box in boxes):
        raise ValueError(f"a region must be boxes (x0, y0, x1, y1) with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 "
                         f"(fractions of the image side), got {boxes or 'none'}")
    return boxes


class GeomErasing:
    """A control: guidance away from a learned concept, whose word and location tokens become the negative prompt.

    Args:
        source: a directory with a learned concept (`gfx train geom-erasing`), or `ErasingEmbeddings`.
        locations: the bins named in the negative prompt (default: all, as the paper's inference).
        scale: a number s: the prompt's guidance stays as it is and a term of its own, `-s * (eps(concept) -
            eps(empty))`, steers away (`gfx.image.denoise`'s guidance terms; one more denoiser branch); None: the
            concept's own `ErasingConfig.scale`, which when None too means the concept's text replaces the empty
            prompt of guidance (the paper).
        window: (start, end) fractions of the denoising steps in which the separate term acts (0: pure noise), e.g.
            (0, 0.5) for the steps that lay out the picture; None: the concept's own `ErasingConfig.window`, all
            steps when None too. Needs a scale.
        region: boxes (x0, y0, x1, y1) in fractions of the image side, y down, in which the separate term acts
            (the latent cells they overlap), e.g. where the concept was found in the training images; None: the
            concept's own `ErasingConfig.region`, the whole image when None too. Needs a scale.
    """

    def __init__(self, source: str | Path | ErasingEmbeddings, locations: Sequence[int] | None = None,
                 scale: float | None = None, window: tuple[float, float] | None = None,
                 region: Sequence[Sequence[float]] | None = None):
        self.embeddings = source if isinstance(source, ErasingEmbeddings) else ErasingEmbeddings.load(source)
        self.locations = locations
        own = self.embeddings.config
        self.scale = scale if scale is not None else own.scale
        window = window if window is not None else own.window
        region = region if region is not None else own.region
        if window is not None and (self.scale is None or not 0 <= window[0] < window[1] <= 1):
            raise ValueError(f"window {window} needs a scale and 0 <= start < end <= 1 (fractions of the steps)")
        if region is not None and self.scale is None:
            raise ValueError(f"region {region} needs a scale (a guidance term of its own to confine)")
        self.window, self.region = window, None if region is None else checked_boxes(region)

    def concept_text(self, pipe) -> str:
        """Installs the tokens in `pipe` and returns the concept's text: its word and the chosen bins."""
        self.embeddings.install(pipe)
        text = self.embeddings.negative_prompt(self.locations)
        tokenizer = pipe.tokenizer
        if len(tokenizer(text, verbose=False).input_ids) > tokenizer.model_max_length:
            raise ValueError(f"the negative prompt {text!r} exceeds the tokenizer's {tokenizer.model_max_length} "
                             "tokens; name fewer bins (locations=...)")
        return text

    def negative(self, pipe) -> str:
        """The negative prompt (the concept's text), or "" when a separate `scale` steers instead."""
        return self.concept_text(pipe) if self.scale is None else ""

    def region_map(self, pipe) -> torch.Tensor:
        """(1, 1, h, w) float at `pipe`'s latent size: 1 on the cells the region's boxes overlap."""
        _, h, w = latent_codec(pipe).latent_shape(*image_size(pipe))
        return region_mask(torch.tensor(self.region), (h, w)).any(0)[None, None].float()

    def guidance_terms(self, pipe) -> list[tuple[str, Weight]]:
        """[(the concept's text, -scale)] with a separate scale (inside the window only; times `region_map`), else
        none."""
        if self.scale is None:
            return []
        weight = -self.scale if self.region is None else -self.scale * self.region_map(pipe)
        if self.window is None:
            return [(self.concept_text(pipe), weight)]
        return [(self.concept_text(pipe), lambda progress: weight if in_window(self.window, progress) else 0.0)]


class ErasingTraining(nn.Module):
    """Geom-Erasing fine-tuning of a pipeline: the concept's token vectors (and for data removal the UNet) under the
    region-reweighted diffusion loss. Every other weight is frozen.

    Batches: {"pixels": (B, 3, S, S) in [-1, 1], "input_ids": (B, T) of augmented captions, "boxes": (B, 4) the
    concept's box (x0, y0, x1, y1) in fractions of the side, y down; zeros where the image has none}.

    Args:
        pipe: any pipeline with `unet`, `text_encoder`, `tokenizer`, `scheduler` (and `vae`); the tokens are added
            to it.
        alpha: the outside / inside loss-weight ratio (`region_weights`).
        train_unet: data removal (the UNet trains too) instead of model removal.
        start: starting vectors (default `ErasingEmbeddings.initial`).
        grounding_weight, pixel_weight: TokenCompose's token and pixel losses on the learned tokens of a caption,
            whose region is the concept's box (`gfx.image.grounding`), and on the object phrases of batches with
            "regions" and "grounded" (`gfx.recipes.world_batches.WorldBatches`); 0: off.
        object_weight: the object phrases' share of those losses, against 1 for the learned tokens.
    """

    def __init__(self, pipe, config: ErasingConfig | None = None, alpha: float = 0.1, train_unet: bool = False,
                 start: ErasingEmbeddings | None = None, grounding_weight: float = 0.0, pixel_weight: float = 0.0,
                 object_weight: float = 1.0):
        super().__init__()
        start = start or ErasingEmbeddings.initial(pipe, config or ErasingConfig())
        self.erasing, self.alpha, self.train_unet, self.pipe = start.config, alpha, train_unet, pipe
        self.grounding_weight, self.pixel_weight, self.object_weight = grounding_weight, pixel_weight, object_weight
        self.names = list(start.vectors)
        self.ids = start.install(pipe)
        self.vectors = nn.Parameter(torch.stack([v.float() for v in start.vectors.values()]))  # (N, D)
        self.unet, self.text_encoder, self.vae = pipe.unet, pipe.text_encoder, getattr(pipe, "vae", None)
        self.codec, self.scheduler = latent_codec(pipe), pipe.scheduler
        self.unet.requires_grad_(train_unet)
        self.text_encoder.requires_grad_(False)
        if self.vae is not None:
            self.vae.requires_grad_(False)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            latents = self.codec.encode(batch["pixels"])  # (B, C, h, w)
        with inject_embeddings(self.text_encoder, dict(zip(self.ids, self.vectors, strict=True))):
            states = self.text_encoder(batch["input_ids"])[0]  # (B, T, D)
        store, grounding = AttentionStore(), bool(self.grounding_weight or self.pixel_weight)
        with capture_cross_attention(self.unet, store) if grounding else contextlib.nullcontext():
            error = denoising_error(self.unet, self.scheduler, latents, states)  # (B, C, h, w)
        mask = region_mask(batch["boxes"], error.shape[-2:])  # (B, h, w)
        loss = (region_weights(mask, self.alpha)[:, None] * error).mean()
        if not grounding:
            return loss
        learned = torch.isin(batch["input_ids"], torch.tensor(self.ids, device=mask.device))  # (B, T)
        learned = learned & mask.flatten(1).any(1)[:, None]
        regions = mask[:, None].float().expand(-1, learned.shape[1], -1, -1)  # (B, T, h, w)
        grounded = learned
        if "regions" in batch:  # the object phrases' regions too, as the base was trained (`WorldBatches`)
            objects = batch["regions"]  # (B, T, s, s)
            box = region_mask(batch["boxes"], objects.shape[-2:])[:, None].float()  # (B, 1, s, s)
            regions = torch.where(learned[:, :, None, None], box, objects)
            grounded = torch.where(learned, 1.0, self.object_weight * batch["grounded"].float())
        token, pixel = grounding_losses(store, regions, grounded)
        return loss + self.grounding_weight * token + self.pixel_weight * pixel

    def embeddings(self) -> ErasingEmbeddings:
        """The current vectors as a learned concept."""
        return ErasingEmbeddings(self.erasing, {n: v.detach().clone() for n, v in zip(self.names, self.vectors,
                                                                                      strict=True)})
