"""The skeleton every `gfx train` recipe runs: seed -> build -> warm start -> data -> train -> save -> card.

A recipe module supplies only what is its own, as a `Recipe`: its config (a `RecipeConfig` subclass, saved
as `train.json` beside the model), how to build and warm-start the model, the `Stage`s it trains (a model
with its batches and schedule), how to save and load it, its evaluation and its card facts.
`train_recipe` does the rest, the same way for every model:

    card = train_recipe("iconshop", "models/iconshop-mini", config=IconShopRecipe.from_json("train.json"))

Training state (weights, optimizer, RNG) is checkpointed under `RUNS_DIR/<model name>/[<stage>/]checkpoint`,
so running a recipe again continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import platform
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gfx.config import ConfigMixin
from gfx.models import MODELS_DIR
from gfx.recipes.card import Card, write_card
from gfx.runtime import seed_everything
from gfx.train import RUNS_DIR, Progress, TrainConfig, TrainResult, evaluate, train

log = logging.getLogger(__name__)

TRAIN_CONFIG_NAME = "train.json"


@dataclass
class RecipeConfig(ConfigMixin):
    """The schedule of one recipe run; each recipe's config (a `@dataclass` subclass) adds its own knobs."""

    preset: str = "mini"  # the model config preset
    steps: int = 1000  # optimizer steps (of the main stage)
    batch_size: int = 8
    lr: float = 1e-3  # peak learning rate: linear warmup, then cosine to a tenth
    warmup_steps: int = 100  # at most a tenth of the steps
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eval_every: int = 500  # steps between validations
    eval_batches: int = 4  # validation batches per validation (0: all)
    checkpoint_every: int = 100  # steps between resumable checkpoints
    log_every: int = 25
    seed: int = 0  # seeds initialisation, data order and augmentation
    init_from: str | None = None  # a saved model whose weights start the run (warm start)
    eval_limit: int | None = 0  # test items of the card's evaluation (None: the whole split; 0: skip)
    time_limit_s: float | None = None  # stop a stage at this training time and ship the model as it is
    history_note: str | None = None  # how the run came about (warm starts, resumed schedules), for the card

    def schedule(self, **overrides: Any) -> TrainConfig:
        """The `gfx.train.TrainConfig` of a stage: this config's fields, with per-stage overrides."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(self, f.name)}
        fields.update(overrides)
        fields["warmup_steps"] = min(fields["warmup_steps"], fields["steps"] // 10)
        return TrainConfig(**fields)

    def describe(self) -> str:
        """One line of the schedule for the model card."""
        line = (f"seed {self.seed}, {self.steps} steps, batch {self.batch_size}, peak lr {self.lr}, warmup "
                f"{min(self.warmup_steps, self.steps // 10)} steps then cosine, AdamW (weight decay "
                f"{self.weight_decay}, betas {tuple(self.betas)})")
        return line + (f", warm-started from `{self.init_from}`" if self.init_from else "")


@dataclass
class Stage:
    """One model of a recipe trained by `gfx.train.train`; `train_recipe` fills in `result`.

    Args:
        name: checkpoint folder under `RUNS_DIR/<model name>/` (None: that folder itself).
        model: the module trained.
        train_data: `epoch -> batches` (e.g. a `gfx.recipes.batching.Batches`).
        val_data: validation batches.
        schedule: optimisation settings (`RecipeConfig.schedule`).
    """

    name: str | None
    model: nn.Module
    train_data: Callable[..., Iterable]
    val_data: Iterable | None
    schedule: TrainConfig
    result: TrainResult | None = None


@dataclass(frozen=True)
class Recipe:
    """What one shipped model's recipe supplies to `train_recipe`.

    Args:
        name: registry name (`gfx train NAME`).
        model_name: the shipped model directory under `models/`.
        config_class: its `RecipeConfig` subclass; the defaults reproduce the shipped model's schedule.
        build: `config -> model or pipeline`, freshly initialised.
        warm_start: `(model, directory)` loads a saved model's weights into it; None: no warm start.
        stages: `(model, config, facts, device) -> Stage`s, trained in turn; the generator reads each
            stage's `result` after it resumes and records the data and run facts of the card in `facts`.
        save: `(model, directory)` writes the shipped model.
        load: `directory -> model`, what the evaluation scores (the saved weights).
        evaluate: `(model, config) -> report` (JSON-ready) for the card's metrics; None: none yet.
        card: `(name, facts) -> Card`: the card's prose and tables from the facts (metrics.json).
    """

    name: str
    model_name: str
    config_class: type[RecipeConfig]
    build: Callable[[Any], Any]
    warm_start: Callable[[Any, Path], None] | None
    stages: Callable[[Any, Any, dict, str], Iterator[Stage]]
    save: Callable[[Any, Path], None]
    load: Callable[[Path], Any]
    evaluate: Callable[[Any, Any], dict] | None
    card: Callable[[str, dict], Card]


def train_recipe(
    recipe: Recipe,
    out_dir: str | Path | None = None,
    *,
    config: RecipeConfig | None = None,
    resume: bool = True,
    progress: Callable[[Progress], None] | None = None,
    device: str | None = None,
    **overrides: Any,
) -> dict:
    """Train (or continue training) a recipe's model, save it with `train.json` and write its model card.

    Args:
        recipe: the recipe (`gfx.recipes.get_recipe(name)`).
        out_dir: the model directory (default `models/<recipe.model_name>`).
        config: the schedule (default: the recipe's, which reproduces the shipped model's).
        resume: continue from the checkpoints in `RUNS_DIR/<out_dir name>/`.
        progress: receives a `gfx.train.Progress` after every optimizer step.
        device: "cpu", "cuda", ...; default: CUDA when available.
        **overrides: config fields to change, e.g. `steps=3`.

    Returns:
        The card's facts (also written to `out_dir/metrics.json`).
    """
    from gfx.runtime import default_device

    config = (config or recipe.config_class()).replace(**overrides)
    out_dir = Path(out_dir) if out_dir is not None else MODELS_DIR / recipe.model_name
    device = device or default_device()
    # 1. seed and build, then load the warm start's weights
    seed_everything(config.seed)
    model = recipe.build(config)
    if config.init_from is not None:
        if recipe.warm_start is None:
            raise ValueError(f"recipe {recipe.name!r} cannot warm-start; leave out init_from (--init-from)")
        recipe.warm_start(model, Path(config.init_from))
    # 2. data and training, stage by stage (a stage's data may depend on the stages before it)
    facts: dict[str, Any] = {}
    for stage in recipe.stages(model, config, facts, device):
        stage.result = _train_stage(stage, RUNS_DIR / out_dir.name, resume, progress, device, config.time_limit_s)
        stage.model.to("cpu").eval()
    facts.update({k: v for k, v in (("history_note", config.history_note), ("init_from", config.init_from)) if v})
    facts.update(machine_facts(device))
    # 3. save the model and its schedule, then evaluate what was saved
    recipe.save(model, out_dir)
    config.to_json(out_dir / TRAIN_CONFIG_NAME)
    if config.eval_limit != 0 and recipe.evaluate is not None:
        facts["eval"] = recipe.evaluate(recipe.load(out_dir), config)
    # 4. the model card
    _write_card(recipe, out_dir, facts, config)
    return facts


def command(recipe: str, model_name: str) -> str:
    """The `gfx train` command that reproduces a shipped model's schedule."""
    return f"gfx train {recipe} --config models/{model_name}/{TRAIN_CONFIG_NAME} --out models/{model_name}"


class _TimeUp(Exception):
    """Raised from the progress callback to end a stage at its time limit."""


def _train_stage(stage: Stage, runs_dir: Path, resume: bool, progress, device: str,
                 time_limit_s: float | None) -> TrainResult:
    """`gfx.train.train` one stage; at the time limit, the model as it is with its validation loss."""
    last: list[Progress] = []

    def on_step(p: Progress) -> None:
        last[:] = [p]
        if progress is not None:
            progress(p)
        if time_limit_s is not None and p.elapsed_s >= time_limit_s and p.step < p.steps:
            raise _TimeUp

    work_dir = runs_dir / stage.name if stage.name else runs_dir
    try:
        return train(stage.model, stage.train_data, stage.schedule, val_data=stage.val_data, out_dir=work_dir,
                     resume=resume, callback=on_step, device=device)
    except _TimeUp:
        p = last[0]
        log.info("time limit %.0f s reached at step %d of %d; shipping the model as it is", time_limit_s, p.step,
                 p.steps)
        val_loss = None
        if stage.val_data is not None:
            val_loss = evaluate(stage.model, stage.val_data, lambda m, b: m.loss(b), torch.device(device),
                                stage.schedule.eval_batches, False)
        return TrainResult(p.step, p.loss, val_loss, p.elapsed_s)


def run_facts(result: TrainResult) -> dict:
    """{"steps", "train_loss", "val_loss", "train_wall_time_s"} of a finished (or resumed) run."""
    train_loss, val_loss = result.train_loss, result.val_loss
    if math.isnan(train_loss) and result.history:  # resumed after it had finished: from the history
        train_loss = result.history[-1]["loss"]
    if val_loss is None:
        val_loss = next((r["val_loss"] for r in reversed(result.history) if "val_loss" in r), None)
    return {
        "steps": result.step,
        "train_loss": round(float(train_loss), 4),
        "val_loss": None if val_loss is None else round(float(val_loss), 4),
        "train_wall_time_s": round(result.elapsed_s),
    }


def warm_start_facts(init_from: str | None) -> dict:
    """The run facts of the card of the pipeline `init_from` (its evaluations left out)."""
    if init_from is None:
        raise ValueError("steps 0 skips the first stage, which needs a warm start: pass --init-from DIR")
    path = Path(init_from) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: a first stage of 0 steps keeps the warm start's card facts")
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in ("eval", "ablation")}


def machine_facts(device: str | torch.device) -> dict:
    """{"device", "machine"}: where the run trained, e.g. "cpu", "x86_64, 1 torch threads"."""
    return {"device": str(device), "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads"}


def parameter_count(model: nn.Module) -> int:
    """Number of parameters of `model`."""
    return sum(p.numel() for p in model.parameters())


def rewrite_card(recipe: Recipe, out_dir: str | Path) -> None:
    """Write a model directory's README.md again from its `metrics.json` and `train.json`, without training."""
    out_dir = Path(out_dir)
    facts = json.loads((out_dir / "metrics.json").read_text())
    _write_card(recipe, out_dir, facts, recipe.config_class.from_json(out_dir / TRAIN_CONFIG_NAME))


def _write_card(recipe: Recipe, out_dir: Path, facts: dict, config: RecipeConfig) -> None:
    write_card(out_dir, recipe.card(out_dir.name, facts), facts, command(recipe.name, out_dir.name), config.describe())
