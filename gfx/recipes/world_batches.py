"""Batches of the procedural 2D world (`gfx.data.shapes2d`) for the image recipes: freshly rendered, captioned
scenes, reproducible from (seed, epoch, batch), optionally with each object phrase's silhouette for grounding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from gfx.data.shapes2d.raster import render, silhouette
from gfx.data.shapes2d.world import PALETTES, WorldConfig, caption, phrase_objects, sample_scene
from gfx.image.codec import from_uint8
from gfx.image.denoise import token_ids
from gfx.image.grounding import token_regions
from gfx.image.phrases import object_phrases, prompt_words

INK_THRESHOLD = 24  # max channel difference from the background colour that counts as ink


@dataclass(frozen=True)
class WorldBatches:
    """`(epoch, start) -> batches` of freshly rendered world scenes.

    Batch b of epoch e is drawn from `default_rng((seed, e, b))`: {"pixels": (B, 3, S, S) float32 in [-1, 1],
    "prompts": B captions ("" where dropped), "input_ids": (B, T) int64 (only with a `tokenizer`), "ink": (B, 1, S, S)
    float32, 1 where a pixel differs from the background}; with `region_size` s > 0 also "regions": (B, T, s, s)
    float32 and "grounded": (B, T) bool, each object-phrase token's object silhouette (`gfx.image.grounding`). A
    subclass changes the text of a scene (`prompt`) or adds fields (`extra`).
    """

    tokenizer: object
    batch_size: int
    world: WorldConfig = WorldConfig()
    image_size: int = 64
    empty_prompt_prob: float = 0.1
    batches_per_epoch: int = 500
    seed: int = 0
    region_size: int = 0

    def __call__(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        for b in range(start, self.batches_per_epoch):
            yield self.batch(np.random.default_rng((self.seed, epoch, b)))

    def batch(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        scenes = [sample_scene(rng, self.world) for _ in range(self.batch_size)]
        images = np.stack([render(s, self.image_size) for s in scenes])
        prompts = [self.prompt(s, rng) if rng.random() >= self.empty_prompt_prob else "" for s in scenes]
        background = np.array([PALETTES[s.palette] for s in scenes], np.int16)[:, None, None]
        ink = np.abs(images.astype(np.int16) - background).max(-1) > INK_THRESHOLD
        ids = {} if self.tokenizer is None else {"input_ids": token_ids(self.tokenizer, prompts)}
        regions = self.regions(scenes, prompts) if self.region_size else {}
        return {"pixels": from_uint8(images), "prompts": prompts, **ids, "ink": torch.from_numpy(ink)[:, None].float(),
                **regions, **self.extra(scenes)}

    def prompt(self, scene, rng: np.random.Generator) -> str:
        """The training text of `scene`: the world's caption."""
        return caption(scene, rng, self.world)

    def extra(self, scenes) -> dict[str, torch.Tensor]:
        """More batch fields computed from the scenes (none here)."""
        return {}

    def regions(self, scenes, prompts: list[str]) -> dict[str, torch.Tensor]:
        """{"regions", "grounded"} of the captions (a dropped caption grounds nothing)."""
        size, length = self.region_size, self.tokenizer.model_max_length
        regions, grounded = np.zeros((len(scenes), length, size, size), np.float32), np.zeros((len(scenes), length), bool)
        for i, (scene, prompt) in enumerate(zip(scenes, prompts, strict=True)):
            if not prompt:
                continue
            phrases = len(object_phrases(prompt_words(prompt)))
            masks = [np.any([silhouette(o, self.image_size) for o in objects], axis=0)
                     for objects in phrase_objects(scene, phrases)]
            regions[i], grounded[i] = token_regions(self.tokenizer, prompt, masks, size)
        return {"regions": torch.from_numpy(regions), "grounded": torch.from_numpy(grounded)}


def world_data(batch_size: int, image_size: int, seed: int, empty_prompt_prob: float = 0.1, tokenizer=None,
               world: WorldConfig | None = None, val_batches: int = 4, region_size: int = 0
               ) -> tuple[WorldBatches, list]:
    """(training batches of `seed`, `val_batches` validation batches of seed + 1) of captioned world scenes."""
    def batches(s: int, **kwargs) -> WorldBatches:
        return WorldBatches(tokenizer, batch_size, world or WorldConfig(), image_size, empty_prompt_prob=empty_prompt_prob, seed=s,
                            region_size=region_size, **kwargs)

    return batches(seed), list(batches(seed + 1, batches_per_epoch=val_batches)(0))
