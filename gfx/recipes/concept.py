"""`gfx train core-concept` and `gfx train textual-inversion`: learn the 2D world's novel shape (a cross, which
the world never samples or captions, `NOVEL_SHAPES`) as a new word from a few renders, with CoRe or with plain
textual inversion on the same images, steps and seed (`gfx.image.core`).

    gfx train core-concept --init-from models/shapes-diffusion            # -> models/core-concept
    gfx train textual-inversion --init-from models/shapes-diffusion       # -> models/textual-inversion-concept
    gfx eval image-controls --concept models/core-concept --baseline-concept models/textual-inversion-concept
    gfx image learn-concept a.png b.png c.png --token "<thing>" -o out/thing [--method textual-inversion]

Data: `images` renders of one large filled cross in the world's colours and cells (seeded), captioned
"a large <colour> <cross>"; each step draws `batch_size` of them and `contexts` CoRe context prompts. Output: a
small directory: learned_embeds.safetensors + concept.json, train.json, metrics.json and the card README.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import CELLS, COLORS, NOVEL_SHAPES, Scene, Shape2D
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

    def __call__(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        for b in range(start, self.batches_per_epoch):
            rng = np.random.default_rng((self.seed, epoch, b))
            rows = rng.integers(len(self.pixels), size=self.batch_size)
            contexts = [CONTEXT_TEMPLATES[i] for i in rng.integers(len(CONTEXT_TEMPLATES), size=self.contexts)]
            yield concept_batch(self.tokenizer, self.pixels[rows], [self.captions[i] for i in rows], self.config,
                                contexts)


@dataclass
class ConceptRecipe(RecipeConfig):
    """The concept schedule (CoRe's stage 1: 300 steps, lr 5e-3); `init_from` names the pipeline (required)."""

    PRESETS = {"tiny": dict(steps=2, batch_size=2, images=2, eval_limit=0)}

    steps: int = 300
    batch_size: int = 6
    lr: float = 5e-3
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

    def concept(self) -> ConceptConfig:
        return ConceptConfig(self.token, self.init_word, self.method, self.emb_weight, self.attn_weight)


@dataclass
class TextualInversionRecipe(ConceptRecipe):
    """The same schedule, images and seed without CoRe's regularizers: the baseline."""

    method: str = "textual-inversion"


def concept_images(shape: str, n: int, seed: int, size: int) -> tuple[torch.Tensor, list[str]]:
    """(pixels (n, 3, size, size), captions with "{}"): `n` renders of one large filled `shape` in distinct
    colours (cycled) and seeded cells, light background."""
    if shape not in NOVEL_SHAPES:
        raise ValueError(f"shape must be one of the world's novel shapes {NOVEL_SHAPES}, not {shape!r}")
    rng = np.random.default_rng(seed)
    colors = [list(COLORS)[i % len(COLORS)] for i in rng.permutation(max(n, len(COLORS)))[:n]]
    scenes = [Scene((Shape2D(shape, c, "large", CELLS[int(rng.integers(len(CELLS)))]),)) for c in colors]
    return read_pixels([render(s, size) for s in scenes], size), [f"a large {c} {{}}" for c in colors]


def concept_model(pipe, config: ConceptRecipe) -> ConceptTraining:
    return ConceptTraining(pipe, config.concept())


def build(config: ConceptRecipe) -> ConceptTraining:
    if config.init_from is None:
        raise ValueError("a concept is learned on a saved pipeline; pass --init-from DIR (e.g. models/shapes-diffusion)")
    return concept_model(load_pipeline(config.init_from), config)


def base_loaded(model: ConceptTraining, directory: Path) -> None:
    """Nothing left to do: `build` loaded the pipeline `init_from` names."""


def concept_stage(model: ConceptTraining, pixels: torch.Tensor, captions: Sequence[str],
                  config: ConceptRecipe) -> Stage:
    """The one training stage on given images; validation on 2 batches of another seed."""

    def batches(seed: int, **kwargs) -> ConceptBatches:
        return ConceptBatches(model.pipe.tokenizer, pixels, tuple(captions), model.settings, config.batch_size,
                              config.contexts, seed=seed, **kwargs)

    return Stage(None, model, batches(config.seed), list(batches(config.seed + 1, batches_per_epoch=2)(0)),
                 config.schedule())


def stages(model: ConceptTraining, config: ConceptRecipe, facts: dict, device: str) -> Iterator[Stage]:
    pixels, captions = concept_images(config.shape, config.images, config.seed, image_size(model.pipe)[0])
    stage = concept_stage(model, pixels, captions, config)
    yield stage
    facts.update(base=config.init_from, method=config.method, parameters=model.vector.numel(), token=config.token, init_word=config.init_word,
                 shape=config.shape, images=config.images, batch_size=config.batch_size, lr=config.lr,
                 seed=config.seed, **run_facts(stage.result))


def learn_concept(pipe, images, config: ConceptConfig, steps: int = 300, batch_size: int = 6, lr: float = 5e-3,
                  captions: Sequence[str] | None = None, seed: int = 0, device: str = "cpu") -> LearnedConcept:
    """Learn `config.token` from `images` (files or (H, W, 3) uint8 arrays) on an in-memory pipeline.

    Args:
        captions: one per image with "{}" for the token (default: `TEMPLATES`, cycled).

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
    recipe = ConceptRecipe(steps=steps, batch_size=batch_size, lr=lr, seed=seed, method=config.method)
    stage = concept_stage(model, pixels, captions, recipe)
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
        data=f"{facts['images']} renders of one large filled {facts['shape']} in distinct colours, captioned "
        f"\"a large <colour> {facts['token']}\"; {facts['batch_size']} per step; the embedding starts from "
        f"`{facts['init_word']}`.",
        run=[f"trained parameters: {facts['parameters']} (one word embedding; every weight of the base is frozen)",
             *run_lines(facts, "diffusion MSE" + (" + CoRe context regularizers" if facts["method"] == "core"
                                                  else ""))[1:]],
        metrics=concept_tables(facts["eval"]) if "eval" in facts else [],
        notes=[],
        use=f"""
from gfx.image.core import Concept
from gfx.image.pipeline import ShapesDiffusionPipeline
pipe = ShapesDiffusionPipeline.from_pretrained("{facts['base']}", local_files_only=True)
results = pipe("a {facts['token']} above a blue circle", n=4, seed=0, controls=[Concept("models/{name}")])
""",
    )


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
