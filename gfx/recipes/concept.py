"""`gfx train core-concept` and `gfx train textual-inversion`: learn the 2D world's novel shape (a cross, which
the world never samples or captions, `NOVEL_SHAPES`) as a new word from a few renders, with CoRe or with plain
textual inversion on the same images, steps and seed (`gfx.image.core`).

    gfx train core-concept --init-from models/shapes-diffusion            # -> models/core-concept
    gfx train textual-inversion --init-from models/shapes-diffusion       # -> models/textual-inversion-concept
    gfx eval image-controls --concept models/core-concept --baseline-concept models/textual-inversion-concept
    gfx image learn-concept a.png b.png c.png --token "<thing>" -o out/thing [--method textual-inversion]

Data: `images` renders of one filled cross in the world's colours and cells (seeded), large and small in turn,
captioned "a large <colour> <cross>" / "a small ..."; each step draws `batch_size` of them and `contexts` CoRe
context prompts. Stages: "embedding" (the word), then for CoRe "identity" (`identity_steps` of the paper's stage 2:
the UNet fine-tunes on the same images, the word frozen); textual inversion, the baseline, has the first only.
Output: a small directory: learned_embeds.safetensors + concept.json (+ unet.safetensors after stage 2),
train.json, metrics.json and the card README.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import CELLS, COLORS, NOVEL_SHAPES, SIZES, Scene, Shape2D
from gfx.image.codec import read_pixels
from gfx.image.core import (
    CONTEXT_TEMPLATES,
    TEMPLATES,
    ConceptConfig,
    ConceptTraining,
    LearnedConcept,
    concept_batch,
)
from gfx.image.denoise import image_size
from gfx.image.pipeline import load_pipeline
from gfx.recipes.card import Card, Table, run_lines
from gfx.recipes.run import Recipe, RecipeConfig, Stage, run_facts
from gfx.recipes.world_batches import WorldBatches


@dataclass(frozen=True)
class ConceptBatches:
    """`(epoch, start) -> batches` over a few concept images; batch b of epoch e draws from
    `default_rng((seed, e, b))` `batch_size` images (with their captions) and `contexts` context templates."""

    tokenizer: object
    pixels: torch.Tensor  # (N, 3, S, S) in [-1, 1]
    captions: tuple[str, ...]  # N captions with "{}" for the token
    config: ConceptConfig
    batch_size: int
    contexts: int = 2
    batches_per_epoch: int = 100
    seed: int = 0
    prior: WorldBatches | None = None  # world scenes beside the concept's: "prior_pixels", "prior_ids"

    def __call__(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        for b in range(start, self.batches_per_epoch):
            rng = np.random.default_rng((self.seed, epoch, b))
            rows = rng.integers(len(self.pixels), size=self.batch_size)
            contexts = [CONTEXT_TEMPLATES[i] for i in rng.integers(len(CONTEXT_TEMPLATES), size=self.contexts)]
            batch = concept_batch(self.tokenizer, self.pixels[rows], [self.captions[i] for i in rows], self.config,
                                  contexts)
            if self.prior is not None:
                world = self.prior.batch(rng)
                batch.update(prior_pixels=world["pixels"], prior_ids=world["input_ids"])
            yield batch


@dataclass
class ConceptRecipe(RecipeConfig):
    """The concept schedule (CoRe's stage 1: 300 steps at batch 6; lr 5e-4, a tenth of the paper's: at 5e-3 our
    64-d word grows to twice any word's norm; then stage 2); `init_from` names the pipeline (required)."""

    PRESETS = {"tiny": dict(steps=2, batch_size=2, images=2, eval_limit=0)}

    steps: int = 300
    batch_size: int = 6
    lr: float = 5e-4
    warmup_steps: int = 0
    weight_decay: float = 0.0
    eval_every: int = 100
    eval_limit: int | None = None
    method: str = "core"
    token: str = "<cross>"
    init_word: str = "star"
    shape: str = "cross"  # the world's novel shape the images show
    images: int = 6
    contexts: int = 2  # context prompts per step (CoRe)
    emb_weight: float = 1.5e-4
    attn_weight: float = 0.05
    identity_steps: int = 1000  # stage 2: the UNet fine-tunes (0: none)
    identity_lr: float = 5e-5
    identity_batch_size: int = 4
    identity_prior: int = 0  # world scenes with their captions beside each stage-2 batch (prior preservation; 0: none)
    unet_window: tuple[float, float] | None = (0.1, 1.0)  # the steps in which stage 2's UNet samples (None: all)

    def concept(self) -> ConceptConfig:
        return ConceptConfig(self.token, self.init_word, self.method, self.emb_weight, self.attn_weight,
                             unet_window=self.unet_window)


@dataclass
class TextualInversionRecipe(ConceptRecipe):
    """The same schedule, images and seed without CoRe's regularizers and stage 2: the baseline."""

    method: str = "textual-inversion"
    identity_steps: int = 0
    unet_window: tuple[float, float] | None = None


def concept_images(shape: str, n: int, seed: int, size: int) -> tuple[torch.Tensor, list[str]]:
    """(pixels (n, 3, size, size), captions with "{}"): `n` renders of one filled `shape` in distinct colours
    (cycled), large and small in turn, in seeded cells, light background. (Large ones only taught stage 2 a large
    cross: small objects stayed the init word's shape.)"""
    if shape not in NOVEL_SHAPES:
        raise ValueError(f"shape must be one of the world's novel shapes {NOVEL_SHAPES}, not {shape!r}")
    rng = np.random.default_rng(seed)
    colors = [list(COLORS)[i % len(COLORS)] for i in rng.permutation(max(n, len(COLORS)))[:n]]
    sizes = [SIZES[1 - i % 2] for i in range(n)]  # large, small, large, ...
    scenes = [Scene((Shape2D(shape, c, z, CELLS[int(rng.integers(len(CELLS)))]),))
              for c, z in zip(colors, sizes, strict=True)]
    return (read_pixels([render(s, size) for s in scenes], size),
            [f"a {z} {c} {{}}" for c, z in zip(colors, sizes, strict=True)])


def concept_model(pipe, config: ConceptRecipe) -> ConceptTraining:
    return ConceptTraining(pipe, config.concept())


def build(config: ConceptRecipe) -> ConceptTraining:
    if config.init_from is None:
        raise ValueError("a concept is learned on a saved pipeline; pass --init-from DIR (e.g. models/shapes-diffusion)")
    return concept_model(load_pipeline(config.init_from), config)


def base_loaded(model: ConceptTraining, directory: Path) -> None:
    """Nothing left to do: `build` loaded the pipeline `init_from` names."""


def concept_stages(model: ConceptTraining, pixels: torch.Tensor, captions: Sequence[str],
                   config: ConceptRecipe) -> Iterator[Stage]:
    """The embedding stage on given images, then (when `identity_steps`) stage 2, entered by
    `model.identity_stage()` once the first is trained; validation on 2 batches of another seed."""

    def batches(seed: int, batch_size: int, **kwargs) -> ConceptBatches:
        return ConceptBatches(model.pipe.tokenizer, pixels, tuple(captions), model.settings, batch_size,
                              config.contexts, seed=seed, **kwargs)

    def stage(name: str, batch_size: int, schedule, prior: WorldBatches | None = None) -> Stage:
        return Stage(name, model, batches(config.seed, batch_size, prior=prior),
                     list(batches(config.seed + 1, batch_size, batches_per_epoch=2)(0)), schedule)

    yield stage("embedding", config.batch_size, config.schedule())
    if config.identity_steps:
        model.identity_stage()
        prior = (WorldBatches(model.pipe.tokenizer, config.identity_prior, image_size=pixels.shape[-1])
                 if config.identity_prior else None)
        yield stage("identity", config.identity_batch_size,
                    config.schedule(steps=config.identity_steps, lr=config.identity_lr, warmup_steps=0), prior)


def stages(model: ConceptTraining, config: ConceptRecipe, facts: dict, device: str) -> Iterator[Stage]:
    pixels, captions = concept_images(config.shape, config.images, config.seed, image_size(model.pipe)[0])
    for stage in concept_stages(model, pixels, captions, config):
        yield stage
        if stage.name == "embedding":
            facts.update(base=config.init_from, method=config.method, parameters=model.vector.numel(),
                         token=config.token, init_word=config.init_word, shape=config.shape, images=config.images,
                         batch_size=config.batch_size, lr=config.lr, seed=config.seed, **run_facts(stage.result))
        else:
            facts["identity"] = {"steps": config.identity_steps, "lr": config.identity_lr,
                                 "batch_size": config.identity_batch_size, "prior": config.identity_prior,
                                 "window": config.unet_window, "parameters": sum(p.numel() for p in model.unet.parameters()),
                                 **run_facts(stage.result)}


def learn_concept(pipe, images, config: ConceptConfig, steps: int = 300, batch_size: int = 6, lr: float = 5e-4,
                  captions: Sequence[str] | None = None, seed: int = 0, device: str = "cpu",
                  identity_steps: int = 0, identity_lr: float = 5e-5) -> LearnedConcept:
    """Learn `config.token` from `images` (files or (H, W, 3) uint8 arrays) on an in-memory pipeline.

    Args:
        captions: one per image with "{}" for the token (default: `TEMPLATES`, cycled).
        identity_steps: CoRe's stage 2 (the UNet fine-tunes; the concept then carries its weights), 0: none.

    Returns:
        The learned concept, also installed in `pipe`.
    """
    from gfx.runtime import seed_everything
    from gfx.train import train

    pixels = read_pixels(images, image_size(pipe)[0])
    captions = list(captions) if captions else [TEMPLATES[i % len(TEMPLATES)] for i in range(len(pixels))]
    if len(captions) != len(pixels):
        raise ValueError(f"{len(captions)} captions for {len(pixels)} images; give one per image")
    seed_everything(seed)
    model = ConceptTraining(pipe, config)
    recipe = ConceptRecipe(steps=steps, batch_size=batch_size, lr=lr, seed=seed, method=config.method,
                           identity_steps=identity_steps, identity_lr=identity_lr)
    for stage in concept_stages(model, pixels, captions, recipe):
        train(stage.model, stage.train_data, stage.schedule, device=device)
    model.to("cpu").eval()
    learned = model.concept()
    learned.install(pipe)
    return learned


def save(model: ConceptTraining, directory: Path) -> None:
    model.concept().save(directory)


def evaluate(directory: Path, config: ConceptRecipe) -> dict:
    """`gfx eval image-controls` on the test split, this concept as the method (the other as the baseline when
    it sits beside it under its default name)."""
    from gfx.recipes.image_controls import evaluate_image_controls

    return evaluate_image_controls("test", config.eval_limit or 0, model=config.init_from, concept=directory)


def card(name: str, facts: dict) -> Card:
    method = "CoRe" if facts["method"] == "core" else "textual inversion"
    return Card(
        title=name,
        summary=f"The 2D world's novel shape ({facts['shape']}, never sampled or captioned) learned as the word "
        f"`{facts['token']}` with {method} on `{facts['base']}`, from {facts['images']} renders.",
        datasets=("gfx.data.shapes2d (procedural, generated by gfx)",),
        tags=("text-to-image", "personalization", facts["method"], "shapes2d"),
        data=f"{facts['images']} renders of one filled {facts['shape']} in distinct colours, large and small in turn, "
        f"captioned \"a large <colour> {facts['token']}\" or \"a small ...\"; {facts['batch_size']} per step; the "
        f"embedding starts from `{facts['init_word']}`.",
        run=[f"trained parameters: {facts['parameters']} (one word embedding; every weight of the base is frozen"
             + ("; stage 2 below trains the UNet)" if "identity" in facts else ")"),
             *run_lines(facts, "diffusion MSE" + (" + CoRe context regularizers" if facts["method"] == "core"
                                                  else ""))[1:], *identity_lines(facts)],
        metrics=concept_tables(facts["eval"]) if "eval" in facts else [],
        notes=[],
        use=f"""
from gfx.image.core import Concept
from gfx.image.pipeline import ShapesDiffusionPipeline
pipe = ShapesDiffusionPipeline.from_pretrained("{facts['base']}", local_files_only=True)
results = pipe("a {facts['token']} above a blue circle", n=4, seed=0, controls=[Concept("models/{name}")])
""",
    )


def identity_lines(facts: dict) -> list[str]:
    """The card's lines on stage 2, when it ran."""
    if "identity" not in facts:
        return []
    i = facts["identity"]
    return [f"stage 2 (identity): the UNet ({i['parameters']:,} parameters) fine-tuned on the same images, the word "
            f"frozen: {i['steps']} steps, batch {i['batch_size']}, peak lr {i['lr']:g}; wall time "
            f"{i['train_wall_time_s'] / 60:.0f} min; final train loss {i['train_loss']}, validation loss "
            f"{i['val_loss']}. The weights ship in unet.safetensors (float16) and replace the base UNet's only "
            "while a `Concept` control samples"
            + (f", in the steps {i['window'][0]:g} - {i['window'][1]:g} of the loop (the base lays out the picture "
               "first)." if i.get("window") else ".")]


def concept_tables(e: dict) -> list[Table]:
    """The concept section of `gfx eval image-controls`: identity and alignment per method."""
    c = e["concept"]
    rows = [[m, f"{r['identity']['rate']:.3f} ± {r['identity']['seed_std']:.3f}",
             f"{r['alignment']['rate']:.3f} ± {r['alignment']['seed_std']:.3f}",
             f"{r['both']['rate']:.3f} ± {r['both']['seed_std']:.3f}"] for m, r in c["methods"].items()]
    return [Table(f"`gfx eval image-controls --split {e['split']}`: {c['prompts']} context prompts, {e['seeds']} "
                  "seeds each; identity: the detector finds the concept's shape; alignment: the context holds; "
                  "± is the spread over seeds.", ["method", "identity", "alignment", "both"], rows)]


RECIPE = Recipe(name="core-concept", model_name="core-concept", config_class=ConceptRecipe, build=build,
                warm_start=base_loaded, stages=stages, save=save, load=Path, evaluate=evaluate, card=card)
BASELINE_RECIPE = Recipe(name="textual-inversion", model_name="textual-inversion-concept",
                         config_class=TextualInversionRecipe, build=build, warm_start=base_loaded, stages=stages,
                         save=save, load=Path, evaluate=evaluate, card=card)
