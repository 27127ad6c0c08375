"""The `gfx train hita` recipe: the Hita tokenizer, then its autoregressive generator, on the procedural 2D world.

    gfx train hita                      # models/hita-mini; resumes from gfx.train.RUNS_DIR
    gfx train hita --preset tiny --steps 2

Two stages, as VAT's recipe: (1) the tokenizer on fresh world renders (reconstruction MSE + quantizer losses);
(2) the generator on the codes of the trained tokenizer, conditioned on the world's captions (`empty_prompt_prob` of
them dropped for classifier-free guidance). The generator's checkpoints are kept per tokenizer step count, so a
longer tokenizer run trains a fresh generator; `generator_restart_steps` train it on in a third stage, a warm
restart of its cosine schedule at `generator_restart_lr`. A stage of 0 steps is skipped: with `--init-from`, a saved
pipeline trains on from the first stage that has steps, and the card keeps the facts of the skipped stages from the
saved card. `holistic=False` trains the same-budget ablation without holistic queries:
`gfx train hita --config scripts/train/hita-no-holistic.json --out models/hita-mini-patches`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gfx.checkpoint import load_weights
from gfx.image.hita import HitaPipeline, HitaSettings, HitaTokenizer, HitaTokenizerConfig
from gfx.recipes.card import Card, minutes, run_lines
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts, warm_start_facts
from gfx.recipes.world_batches import world_data


@dataclass
class HitaRecipe(RecipeConfig):
    """The hita schedule: `steps` of the tokenizer, then `generator_steps` of the generator and
    `generator_restart_steps` more."""

    PRESETS = {"tiny": dict(preset="tiny", steps=2, generator_steps=2, batch_size=2)}

    steps: int = 3500  # tokenizer (with generator_steps: about 50 + 50 min on one CPU thread)
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 0.05
    eval_every: int = 1000
    holistic: bool = True  # False: the same-budget ablation without holistic queries
    generator_steps: int = 5000
    generator_lr: float = 1e-3
    generator_restart_steps: int = 0  # the generator's warm restart (6,000 at 5e-4: about 85 min on one CPU thread)
    generator_restart_lr: float = 5e-4
    empty_prompt_prob: float = 0.1


def build(config: HitaRecipe) -> HitaPipeline:
    tokenizer = HitaTokenizer(HitaTokenizerConfig.from_name(config.preset, holistic=config.holistic))
    return HitaPipeline(tokenizer, HitaPipeline.new_generator(tokenizer.config, config.preset), HitaSettings())


def stages(pipe: HitaPipeline, config: HitaRecipe, facts: dict, device: str) -> Iterator[Stage]:
    size = pipe.tokenizer.config.image_size
    train, val = world_data(config.batch_size, size, config.seed, config.empty_prompt_prob)
    if config.steps:
        tokenizer = Stage("tokenizer", pipe.tokenizer, train, val, config.schedule())
        yield tokenizer
        facts.update(preset=config.preset, holistic=config.holistic, batch_size=config.batch_size, lr=config.lr,
                     seed=config.seed, parameters=parameter_count(pipe.tokenizer), **run_facts(tokenizer.result))
    else:
        facts.update(warm_start_facts(config.init_from))
    folder = f"generator-tokenizer{facts['steps']}"
    for key, name, steps, lr in (
            ("generator", folder, config.generator_steps, config.generator_lr),
            ("generator_restart", f"{folder}-restart", config.generator_restart_steps, config.generator_restart_lr)):
        if not steps:
            continue
        stage = Stage(name, pipe, train, val, config.schedule(steps=steps, lr=lr))
        yield stage
        facts[key] = {"parameters": parameter_count(pipe.generator), "tokens": pipe.tokenizer.config.tokens, "lr": lr,
                      **run_facts(stage.result)}


def warm_start(pipe: HitaPipeline, directory: Path) -> None:
    """Load the tokenizer and generator weights of the Hita pipeline saved in `directory` (same presets)."""
    load_weights(pipe.tokenizer, directory)
    load_weights(pipe.generator, directory)


def card(name: str, facts: dict) -> Card:
    g = facts.get("generator")
    run = run_lines(facts, "tokenizer: reconstruction MSE + quantizer losses")
    if g:
        run += [f"generator: {g['parameters']:,} parameters, {g['steps']} steps, {g['tokens']} tokens per image, "
                f"final train loss {g['train_loss']}, validation loss {g['val_loss']} (CE holistic + CE patch)"]
    if r := facts.get("generator_restart"):
        run += [f"generator, warm restart: {r['steps']} more steps at peak lr {r['lr']} in "
                f"{minutes(r['train_wall_time_s'])}, final train loss {r['train_loss']}, validation loss {r['val_loss']}"]
    return Card(
        title=name,
        summary="Hita on the procedural 2D world: a holistic-to-local tokenizer (learnable holistic queries before "
        "the patch tokens,\nL2-normalized codebooks, a causal fusion decoder) and a caption-conditioned autoregressive "
        "generator over its tokens." + ("" if facts.get("holistic", True) else " Ablation: no holistic queries."),
        datasets=("gfx.data.shapes2d (procedural, generated by gfx)",),
        tags=("text-to-image", "autoregressive", "tokenizer", "hita", "shapes2d"),
        data="Scenes of the procedural 2D world (`gfx.data.shapes2d`), drawn fresh for every batch and seeded by "
        f"(seed, epoch, batch), with captions; {facts['batch_size']} scenes per step.",
        run=run, metrics=[], notes=["Metrics: `gfx eval image-ar --split test`."],
        use=f"""
from gfx.image.hita import HitaPipeline
pipe = HitaPipeline.from_pretrained("models/{name}")
results = pipe("a large red circle", n=4, seed=0)
""",
    )


RECIPE = Recipe(
    name="hita",
    model_name="hita-mini",
    config_class=HitaRecipe,
    build=build,
    warm_start=warm_start,
    stages=stages,
    save=lambda pipe, path: pipe.save_pretrained(path),
    load=HitaPipeline.from_pretrained,
    evaluate=None,
    card=card,
)
