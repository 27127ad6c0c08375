"""`gfx train style-tokenizer`: a StyleTokenizer (`gfx.image.style_tokenizer`) for a saved text -> image pipeline,
trained on the 2D world's drawing styles (filled, outlined, striped, dotted), the pipeline frozen.

    gfx train style-tokenizer --init-from models/shapes-diffusion       # -> models/style-tokenizer
    gfx image generate "a large red circle" --style reference.png --style-model models/style-tokenizer -o out/
    gfx eval image-controls --style-model models/style-tokenizer

Stages: "encoder": the style encoder and its head under the supervised contrastive loss, on world scenes of
uniformly drawn styles (labels: the style; positives: the same style, other content); "tokens": the MLP under the
pipeline's denoising loss, each target scene captioned without its style word after the style words, its reference
another scene of the same style. Output: config.json + model.safetensors, train.json, metrics.json, README.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import STYLES, WorldConfig, caption, sample_scene
from gfx.image.codec import from_uint8
from gfx.image.denoise import image_size, token_ids
from gfx.image.pipeline import load_pipeline
from gfx.image.style_tokenizer import (
    EncoderTraining,
    StyleTokenizer,
    StyleTokenizerConfig,
    StyleTokenTraining,
    styled_prompt,
)
from gfx.recipes.card import Card, Table, run_lines
from gfx.recipes.run import Recipe, RecipeConfig, Stage, run_facts


def style_world(style: str | None = None) -> WorldConfig:
    """The world with uniformly drawn styles, or only `style`."""
    return WorldConfig(style_weights=tuple(float(style in (None, s)) for s in STYLES))


def content_caption(scene, rng: np.random.Generator) -> str:
    """The world's caption of `scene` without its style word."""
    return caption(dataclasses.replace(scene, style="filled"), rng)


@dataclass(frozen=True)
class StyleBatches:
    """`(epoch, start) -> batches` of fresh world scenes; batch b of epoch e draws from `default_rng((seed, e, b))`.

    Contrastive batches (`tokenizer` None): {"pixels": (B, 3, S, S), "styles": (B,) int64}. Token batches:
    {"pixels", "input_ids": style words + content caption, "reference": (B, 3, R, R) a scene of the same style}.
    """

    batch_size: int
    image_size: int = 64
    reference_size: int = 64
    tokenizer: object = None
    style: StyleTokenizerConfig | None = None
    batches_per_epoch: int = 500
    seed: int = 0

    def __call__(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        for b in range(start, self.batches_per_epoch):
            yield self.batch(np.random.default_rng((self.seed, epoch, b)))

    def batch(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        scenes = [sample_scene(rng, style_world()) for _ in range(self.batch_size)]
        pixels = from_uint8([render(s, self.image_size) for s in scenes])
        if self.tokenizer is None:
            return {"pixels": pixels, "styles": torch.tensor([STYLES.index(s.style) for s in scenes])}
        prompts = [styled_prompt(self.style, content_caption(s, rng)) for s in scenes]
        references = [sample_scene(rng, style_world(s.style)) for s in scenes]
        return {"pixels": pixels, "input_ids": token_ids(self.tokenizer, prompts),
                "reference": from_uint8([render(s, self.reference_size) for s in references])}


@dataclass
class StyleTokenizerRecipe(RecipeConfig):
    """The style-tokenizer schedule; `init_from` names the frozen pipeline (required)."""

    PRESETS = {"tiny": dict(preset="tiny", steps=2, encoder_steps=2, batch_size=4, eval_limit=0)}

    steps: int = 2000  # token stage
    encoder_steps: int = 1000
    batch_size: int = 16
    lr: float = 5e-4
    encoder_lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0
    eval_every: int = 500
    eval_limit: int | None = None
    n_tokens: int = 4


def build(config: StyleTokenizerRecipe) -> StyleTokenTraining:
    """A fresh style tokenizer of the preset, sized for the pipeline `init_from` names (frozen, style words added)."""
    if config.init_from is None:
        raise ValueError("style-tokenizer trains against a saved pipeline; pass --init-from DIR "
                         "(e.g. models/shapes-diffusion)")
    pipe = load_pipeline(config.init_from)
    width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
    model = StyleTokenizer(StyleTokenizerConfig.from_name(config.preset, n_tokens=config.n_tokens, token_dim=width))
    return StyleTokenTraining(pipe, model)


def base_loaded(model: StyleTokenTraining, directory: Path) -> None:
    """Nothing left to do: `build` loaded the pipeline `init_from` names."""


def stages(model: StyleTokenTraining, config: StyleTokenizerRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """The contrastive stage, then the token stage; validation on 2 batches of another seed each."""
    size, reference = image_size(model.pipe)[0], model.model.config.image_size

    def batches(seed: int, **kwargs) -> StyleBatches:
        return StyleBatches(config.batch_size, size, reference, seed=seed, **kwargs)

    encoder = Stage("encoder", EncoderTraining(model.model),
                    StyleBatches(config.batch_size, reference, seed=config.seed),
                    list(StyleBatches(config.batch_size, reference, batches_per_epoch=2, seed=config.seed + 1)(0)),
                    config.schedule(steps=config.encoder_steps, lr=config.encoder_lr))
    yield encoder
    model.freeze()
    words = dict(tokenizer=model.pipe.tokenizer, style=model.model.config)
    tokens = Stage("tokens", model, batches(config.seed, **words),
                   list(batches(config.seed + 1, batches_per_epoch=2, **words)(0)), config.schedule())
    yield tokens
    facts.update(base=config.init_from, n_tokens=config.n_tokens, batch_size=config.batch_size, lr=config.lr,
                 seed=config.seed, encoder=run_facts(encoder.result),
                 parameters=sum(p.numel() for p in model.model.parameters()), **run_facts(tokens.result))


def save(model: StyleTokenTraining, directory: Path) -> None:
    model.model.save_pretrained(directory)


def evaluate(directory: Path, config: StyleTokenizerRecipe) -> dict:
    """`gfx eval image-controls` on the test split: style match and content leak."""
    from gfx.recipes.image_controls import evaluate_image_controls

    return evaluate_image_controls("test", config.eval_limit or 0, model=config.init_from, style_model=directory)


def card(name: str, facts: dict) -> Card:
    return Card(
        title=name,
        summary=f"StyleTokenizer for `{facts['base']}`: a style encoder trained contrastively over the 2D world's "
        f"styles and an MLP writing {facts['n_tokens']} style words in its text encoder's embedding space "
        "(the pipeline frozen).",
        datasets=("gfx.data.shapes2d (procedural, generated by gfx)",),
        tags=("text-to-image", "style", "style-tokenizer", "shapes2d"),
        data=f"World scenes with uniformly drawn styles, fresh every batch; {facts['batch_size']} per step. "
        f"Contrastive stage: {facts['encoder']['steps']} steps (val loss {facts['encoder']['val_loss']}).",
        run=[f"parameters: {facts['parameters']:,}", *run_lines(facts, "diffusion MSE (token stage)")[1:]],
        metrics=style_tables(facts["eval"]) if "eval" in facts else [],
        notes=[],
        use=f"""
from gfx.image.pipeline import ShapesDiffusionPipeline
from gfx.image.style_tokenizer import Style
pipe = ShapesDiffusionPipeline.from_pretrained("{facts['base']}", local_files_only=True)
results = pipe("a large red circle", n=4, seed=0, controls=[Style("models/{name}", "reference.png")])
""",
    )


def style_tables(e: dict) -> list[Table]:
    """The style section of `gfx eval image-controls`: style match and content leak per condition."""
    s = e["style"]
    rows = [[name, f"{r['style_match']['rate']:.3f} ± {r['style_match']['seed_std']:.3f}",
             f"{r['content_leak']['rate']:.3f} ± {r['content_leak']['seed_std']:.3f}"]
            for name, r in s["conditions"].items()]
    return [Table(f"`gfx eval image-controls --split {e['split']}`: {s['prompts']} content prompts with a reference "
                  f"of another content, {e['seeds']} seeds each; ± is the spread over seeds.",
                  ["condition", "style match", "content leak"], rows)]


RECIPE = Recipe(name="style-tokenizer", model_name="style-tokenizer", config_class=StyleTokenizerRecipe,
                build=build, warm_start=base_loaded, stages=stages, save=save, load=Path, evaluate=evaluate,
                card=card)
