"""The `gfx train svgcraft-layout` recipe: the text -> layout model of SVGCraft scenes, and its model card.

    gfx train svgcraft-layout              # models/svgcraft-layout, resumes from RUNS_DIR/svgcraft-layout

Data: procedural captioned layouts (`gfx.data.scene_layouts`) of the train concept combinations, generated once
per run from the seed; validation on the val combinations. The loss counts only the layout tokens (the prompt is
given). The card's metrics are `gfx.recipes.svgcraft_eval.evaluate_layouts` on the held-out test combinations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from gfx.checkpoint import load_weights
from gfx.recipes.batching import Batches
from gfx.recipes.card import Card, Table, run_lines
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts
from gfx.svg.svgcraft import PAD_ID, SVGCraftLayout, SVGCraftLayoutConfig

MODEL_NAME = "svgcraft-layout"


@dataclass
class SVGCraftLayoutRecipe(RecipeConfig):
    """The svgcraft-layout schedule; the defaults are the shipped model's."""

    PRESETS = {"tiny": dict(preset="tiny", steps=2, batch_size=4, train_layouts=16, val_layouts=8, eval_limit=0,
                           eval_scenes=0)}

    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 200
    eval_every: int = 500
    eval_batches: int = 8
    checkpoint_every: int = 250
    train_layouts: int = 24000
    val_layouts: int = 512
    eval_limit: int | None = 500  # test prompts of the card's layout table
    eval_scenes: int = 20  # test prompts composed into whole scenes for the card's scene table
    time_limit_s: float | None = 1500.0  # about 15 minutes of one CPU core, data generation aside


def build(config: SVGCraftLayoutRecipe) -> SVGCraftLayout:
    return SVGCraftLayout.build(SVGCraftLayoutConfig.from_name(config.preset))


def layout_sequences(pipe: SVGCraftLayout, records) -> list[tuple[list[int], int]]:
    """(token ids, prompt length) per record: `<bos> words <sep>` then the layout."""
    from gfx.svg.scene_text import parse_scene

    out = []
    for r in records:
        prompt = pipe.tokenizer.encode_prompt(parse_scene(r.caption))
        out.append((prompt + pipe.tokenizer.encode_layout(r.owners, r.boxes), len(prompt)))
    return out


def layout_batches(sequences: list[tuple[list[int], int]], batch_size: int, seed: int,
                   shuffle: bool = True) -> Batches:
    """Batches of {"tokens" (B, T) long right-padded, "attention_mask" (B, T), "loss_mask" (B, T) on the layout}."""

    def collate(index: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        rows = [sequences[i] for i in index]
        width = max(len(ids) for ids, _ in rows)
        tokens = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
        loss_mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for k, (ids, prompt) in enumerate(rows):
            tokens[k, : len(ids)] = torch.tensor(ids)
            loss_mask[k, prompt : len(ids)] = True
        return {"tokens": tokens, "attention_mask": tokens != PAD_ID, "loss_mask": loss_mask}

    return Batches(len(sequences), batch_size, collate, seed=seed, shuffle=shuffle, drop_last=shuffle)


def stages(pipe: SVGCraftLayout, config: SVGCraftLayoutRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """One stage: next-token loss on the layout tokens of procedural captions."""
    from gfx.data.scene_layouts import generate_layouts

    train = layout_sequences(pipe, generate_layouts(config.train_layouts, "train", config.seed))
    val = layout_sequences(pipe, generate_layouts(config.val_layouts, "val", config.seed))
    facts.update(preset=config.preset, parameters=parameter_count(pipe.model), train_layouts=len(train),
                 val_layouts=len(val))
    stage = Stage(None, pipe.model, layout_batches(train, config.batch_size, config.seed),
                  list(layout_batches(val, config.batch_size, config.seed, shuffle=False)), config.schedule())
    yield stage
    run = run_facts(stage.result)
    facts.update(steps=run.pop("steps"), planned_steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                 seed=config.seed, **run)


def evaluate(pipe: SVGCraftLayout, config: SVGCraftLayoutRecipe) -> dict:
    """`gfx eval svgcraft` of `pipe`: layouts of `eval_limit` test prompts, and `eval_scenes` whole scenes."""
    from gfx.recipes.svgcraft_eval import evaluate_scene_split

    return evaluate_scene_split(pipe, "test", config.eval_limit or 0, config.eval_scenes)


def layout_table(e: dict) -> Table:
    """The layout report (`evaluate_layout_split`) as a table: the model beside the row baseline."""

    def row(label: str, m: dict) -> list[str]:
        return [label, f"{m['count_accuracy']:.3f}", f"{m['relation_accuracy']:.3f}", f"{m['size_accuracy']:.3f}",
                f"{m['box_iou']:.3f}", f"{m['validity']:.3f}", f"{m['seconds_per_layout']:.3f}"]

    return Table(
        f"Layouts of {e['prompts']} held-out test prompts (`gfx.data.scene_layouts`, concept combinations never "
        f"trained on; seed {e['seed']}). Relation accuracy: share of the prompts' relations that hold for every "
        "pair of objects; IoU: mean IoU with the ground-truth boxes (objects matched within each phrase). Many "
        "layouts satisfy a caption, so IoU is only a rough agreement measure.",
        ["", "count acc.", "relation acc.", "size acc.", "box IoU", "validity", "s / layout"],
        [row(name, m) for name, m in e["methods"].items()],
    )


def scene_table(s: dict) -> Table:
    """The scenes part of the report: validity, time, and how well each object reads inside its scene."""
    return Table(
        f"Whole scenes (`gfx.svg.scene`, icons mode, outline style) of {s['scenes']} more held-out test prompts. Object "
        "score: IconCLIP cosine (`models/icon-clip`) of each object's box cut from the scene with its concept, "
        "beside the same object drawn alone in the same view.",
        ["validity", "s / scene (median)", "s / scene (max)", "object score in scene", "object score alone",
         "ratio"],
        [[f"{s['validity']:.3f}", f"{s['seconds_per_scene_median']:.2f}", f"{s['seconds_per_scene_max']:.2f}",
          f"{s['object_score_in_scene']:.3f}", f"{s['object_score_alone']:.3f}", f"{s['object_score_ratio']:.2f}"]],
    )


def card(name: str, facts: dict) -> Card:
    return Card(
        title=name,
        summary="The layout model of gfx's SVGCraft scenes: prompt -> one box per object. A small decoder-only\n"
        "transformer reads the prompt's words (each object phrase marked with its slot) and writes\n"
        "`<oK> x0 x1 y0 y1` per object on a 32-step lattice, sampled under a grammar built for the prompt, so\n"
        "every layout has exactly the objects and counts the prompt names, each box inside the canvas.",
        datasets=("procedural captioned layouts (gfx.data.scene_layouts)",),
        tags=("text-to-layout", "scene", "svgcraft"),
        data=f"{facts['train_layouts']} procedural captioned layouts of the train concept combinations, "
        f"{facts['val_layouts']} of the val ones\n(32 icon concepts, counts 1-3, sizes, relations left of / right "
        "of / above / below / inside / next to; exact boxes\nchecked against every stated relation).",
        run=run_lines(facts, "next-token cross-entropy of the layout tokens",
                      steps=f"{facts['steps']} of {facts['planned_steps']} planned"),
        metrics=[layout_table(facts["eval"]), *([scene_table(facts["eval"]["scenes"])] if "scenes" in facts["eval"]
                                                else [])] if "eval" in facts else [],
        notes=[],
        use=f"""
from gfx.svg.svgcraft import SVGCraftLayout
layout = SVGCraftLayout.from_pretrained("models/{name}")("two trees left of a house", seed=0)
print(layout.objects)   # [(phrase, (x0, y0, x1, y1)), ...] on the unit canvas
# the whole scene: gfx.svg.scene("two trees left of a house", seed=0).svg
""",
    )


RECIPE = Recipe(
    name="svgcraft-layout",
    model_name=MODEL_NAME,
    config_class=SVGCraftLayoutRecipe,
    build=build,
    warm_start=lambda pipe, path: load_weights(pipe.model, path),
    stages=stages,
    save=lambda pipe, path: pipe.save_pretrained(path),
    load=SVGCraftLayout.from_pretrained,
    evaluate=evaluate,
    card=card,
)
