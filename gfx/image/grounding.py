"""Token grounding (TokenCompose): a training loss that keeps each object word's cross-attention on its object.

A text -> image model that neglects an object draws the first object as a copy of the second: the first phrase's
tokens lose their place in the picture. TokenCompose fine-tunes the denoiser with the ground truth of where each
object is: a token's cross-attention mass should fall inside its object's mask. gfx keeps the paper's two losses,
averaged over every cross-attention layer of at least `min_queries` queries and over the grounded tokens:

    L_token = mean over layers and grounded tokens of (1 - attention inside the token's region / all its attention)^2

and its pixel loss, a binary cross-entropy between each such token's attention at each pixel and its region. The
procedural world gives every mask exactly (`token_regions`).

    regions, grounded = token_regions(tokenizer, prompt, [silhouette_a, silhouette_b], size=16)
    store = AttentionStore()
    with capture_cross_attention(unet, store):
        error = denoising_error(unet, scheduler, latents, states)
    token, pixel = grounding_losses(store, regions, grounded)
    loss = error.mean() + token_weight * token + pixel_weight * pixel
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gfx.data.shapes2d.raster import coverage
from gfx.image.attention import AttentionStore
from gfx.image.phrases import object_phrases, prompt_words
from gfx.image.prompt_ops import token_group, word_positions


def token_regions(tokenizer, prompt: str, masks: Sequence[np.ndarray], size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Where each token of `prompt` should look: its object phrase's mask for the phrase's noun and attribute
    tokens (`gfx.image.phrases.object_phrases`, in prompt order), nothing for the other tokens.

    Args:
        masks: one (S, S) bool mask per object phrase, in order; S a multiple of `size`.
        size: side of the regions (the largest attention grid).

    Returns:
        (T, size, size) float32 coverage of each token's region and (T,) bool, True for grounded tokens; T is the
        tokenizer's `model_max_length` (tokens past it are dropped, as the encoder drops them).
    """
    words = prompt_words(prompt)
    phrases = object_phrases(words)
    if len(phrases) != len(masks):
        raise ValueError(f"{prompt!r} has {len(phrases)} object phrases but {len(masks)} masks were given")
    positions = word_positions(tokenizer, prompt, truncate=True)
    length = tokenizer.model_max_length
    regions, grounded = np.zeros((length, size, size), np.float32), np.zeros(length, bool)
    for phrase, mask in zip(phrases, masks, strict=True):
        group = token_group(positions, phrase)
        tokens = list(group.noun + group.attributes)
        regions[tokens], grounded[tokens] = coverage(mask, mask.shape[0] // size), True
    return regions, grounded


def grounding_losses(store: AttentionStore, regions: torch.Tensor, grounded: torch.Tensor,
                     min_queries: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """TokenCompose's token and pixel losses over the cross-attention `store` recorded (with its graph) for one
    denoiser call.

    The token loss alone is scale-free in a token's attention: it is also met by pixels that hardly attend to the
    object words at all (a probe drove their share of the attention from 0.29 to 0.02). The pixel loss, a binary
    cross-entropy between each grounded token's attention probability at each pixel and its region, keeps the
    object's pixels reading their words.

    Args:
        regions: (B, T, s, s) coverage of each token's region at the largest attention grid; a cell belongs to the
            region at a coarser grid when any of it is covered.
        grounded: (B, T) bool, the tokens that have a region; or float, each such token's weight (the average
            stays over the tokens with a weight, so a weight below 1 lowers that token's share).
        min_queries: layers with fewer queries (coarser than 8x8 by default) are left out.

    Returns:
        (token loss, pixel loss), scalars averaged over layers and grounded tokens (0 when no token is grounded).
    """
    weights = grounded.float()
    count = (weights > 0).sum().clamp_min(1)
    token, pixel = [], []
    for queries, layers in store.layers.items():
        if queries < min_queries:
            continue
        side = round(queries ** 0.5)
        inside = (F.adaptive_avg_pool2d(regions, side) > 0).flatten(2).transpose(1, 2).float()  # (B, HW, T)
        for probs in layers.values():
            attention = probs.mean(1)  # (B, HW, T), heads averaged
            share = (attention * inside).sum(1) / attention.sum(1).clamp_min(1e-8)  # (B, T)
            token.append(((1 - share) ** 2 * weights).sum() / count)
            bce = F.binary_cross_entropy(attention.clamp(1e-6, 1 - 1e-6), inside, reduction="none").mean(1)  # (B, T)
            pixel.append((bce * weights).sum() / count)
    if not token:
        raise ValueError(f"no cross-attention layer with >= {min_queries} queries was recorded; "
                         f"recorded: {sorted(store.layers)}")
    return torch.stack(token).mean(), torch.stack(pixel).mean()
