"""The `gfx train geom-erasing` recipe: learn the 2D world's implicit corner mark as words on a saved text -> image
pipeline (Geom-Erasing, `gfx.image.geom_erasing`), so that guidance can steer away from it.

    gfx train geom-erasing --init-from models/shapes-diffusion          # -> models/geom-erasing (the shipped run)
    gfx image generate "a large red circle" --negative-concept models/geom-erasing -o out/
    gfx eval image-controls --negative-concept models/geom-erasing    # with it, against the shipped base

Data: world scenes carrying the mark (`mark_prob`), captioned by the world's captioner; a marked scene's caption
gets " <mark> <l..>" for the bins of the mark's exact box (`raster.mark_box`, the ground truth in the role of the
paper's external detector), and its box weights the loss. The default is data removal: the UNet trains with the
new token vectors, on scenes with and without the mark and the base's last mix of object counts, with
TokenCompose's grounding losses on the learned tokens (their region: the mark's box) and, at a fifth of that
weight, on the object phrases, as the base was trained. Model removal (`train_unet` false, a textual-inversion lr
such as 5e-3) trains only the vectors. The saved concept steers by a negative guidance term of its own
(`scale`) inside the mark's boxes of the training images (`seen_region`); docs/papers.md ("Geom-Erasing") has
the measurements behind each default.

The output is a directory: learned_embeds.safetensors + geom_erasing.json (and for data removal the fine-tuned
pipeline in float16), train.json, metrics.json and the card README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gfx.data.shapes2d.raster import mark_box
from gfx.data.shapes2d.world import CORNERS, WorldConfig, caption
from gfx.image.codec import latent_codec
from gfx.image.denoise import image_size
from gfx.image.geom_erasing import (
    ErasingConfig,
    ErasingEmbeddings,
    ErasingTraining,
    augment_caption,
    box_tokens,
)
from gfx.image.pipeline import load_pipeline
from gfx.recipes.card import Card, Table, run_lines
from gfx.recipes.run import Recipe, RecipeConfig, Stage, run_facts
from gfx.recipes.world_batches import WorldBatches


@dataclass(frozen=True)
class MarkBatches(WorldBatches):
    """World batches whose marked scenes name the mark and its bins (caption + " <mark> <l..>"), with
    "boxes": (B, 4) float32, the mark's box in fractions of the side (zeros: no mark)."""

    erasing: ErasingConfig = field(default_factory=ErasingConfig)

    def prompt(self, scene, rng: np.random.Generator) -> str:
        text = caption(scene, rng, self.world)
        if scene.mark is None:
            return text
        locations = box_tokens(mark_box(scene.mark), self.erasing.grid)
        return augment_caption(text, self.erasing.concept, locations, self.tokenizer)

    def regions(self, scenes, prompts: list[str]) -> dict[str, torch.Tensor]:
        """The object phrases' regions, read from the captions without the mark's words (they come last)."""
        return super().regions(scenes, [p.split(f" {self.erasing.concept}")[0] for p in prompts])

    def extra(self, scenes) -> dict[str, torch.Tensor]:
        boxes = [mark_box(s.mark) if s.mark else (0.0, 0.0, 0.0, 0.0) for s in scenes]
        return {"boxes": torch.tensor(boxes, dtype=torch.float32)}


@dataclass
class GeomErasingRecipe(RecipeConfig):
    """The geom-erasing schedule; `init_from` names the pipeline it fine-tunes (required)."""

    PRESETS = {"tiny": dict(steps=2, batch_size=2, eval_limit=0)}

    steps: int = 1500
    batch_size: int = 16
    lr: float = 1e-4  # a UNet-sized rate (data removal); model removal alone wants a textual-inversion 5e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0
    eval_every: int = 500
    eval_limit: int | None = None  # the card's with/without evaluation at its default size
    concept: str = "<mark>"
    concept_init: str = "mark"
    grid: tuple[int, int] = (4, 4)
    alpha: float = 0.1  # outside / inside loss weight
    train_unet: bool = True  # data removal (False: model removal, the vectors only)
    mark_prob: float = 0.5  # share of training scenes with the mark (model removal learns from those only)
    object_counts: tuple[float, ...] | None = (0.35, 0.45, 0.2)  # weights of 1, 2, 3 objects (None: the world's)
    ground_objects: bool = True  # with grounding, the captions' object phrases too (gfx's pixel-space models)
    object_weight: float = 0.2  # ... at this weight in the grounding losses, against 1 for the learned tokens
    scale: float | None = 15.0  # GeomErasing's default: a separate negative guidance scale (None: the paper's way)
    window: tuple[float, float] | None = None  # ... the fraction of the steps in which it acts (None: all)
    seen_region: bool = True  # ... only where the mark's exact boxes are in training (False: the whole image)
    empty_prompt_prob: float = 0.0
    grounding_weight: float = 0.05  # TokenCompose's token loss on the learned tokens (their region: the mark's box)
    grounding_pixel_weight: float = 0.05  # ... and its pixel loss


def erasing_model(pipe, config: GeomErasingRecipe) -> ErasingTraining:
    """`pipe` with the concept's tokens added, frozen but for what trains."""
    grid = tuple(config.grid)
    region = tuple(mark_box(corner) for corner in CORNERS) if config.seen_region else None
    erasing = ErasingConfig(config.concept, grid, config.concept_init, config.scale, config.window, region)
    return ErasingTraining(pipe, erasing, alpha=config.alpha, train_unet=config.train_unet,
                           grounding_weight=config.grounding_weight, pixel_weight=config.grounding_pixel_weight,
                           object_weight=config.object_weight)


def build(config: GeomErasingRecipe) -> ErasingTraining:
    """The `erasing_model` of the pipeline saved in `init_from`."""
    if config.init_from is None:
        raise ValueError("geom-erasing fine-tunes a saved pipeline; pass --init-from DIR (e.g. models/shapes-diffusion)")
    return erasing_model(load_pipeline(config.init_from), config)


def fine_tune(pipe, config: GeomErasingRecipe | None = None, device: str = "cpu",
              out_dir: str | Path | None = None) -> ErasingEmbeddings:
    """Geom-Erasing on an in-memory pipeline with `config`'s schedule (model removal unless `train_unet`).

    Args:
        out_dir: where resumable checkpoints go (None: none).

    Returns:
        The learned concept, also installed in `pipe` (and `pipe.unet` fine-tuned for data removal).
    """
    from gfx.train import train

    config = config or GeomErasingRecipe()
    model = erasing_model(pipe, config)
    for stage in stages(model, config, {}, device):
        stage.result = train(stage.model, stage.train_data, stage.schedule, val_data=stage.val_data,
                             out_dir=out_dir, device=device)
    model.to("cpu").eval()
    embeddings = model.embeddings()
    embeddings.install(pipe)
    return embeddings


def base_loaded(model: ErasingTraining, directory: Path) -> None:
    """Nothing left to do: `build` loaded the pipeline `init_from` names."""


def stages(model: ErasingTraining, config: GeomErasingRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """One stage on fresh marked world batches; validation on 4 batches of another seed."""
    pipe, size = model.pipe, image_size(model.pipe)[0]
    counts = {"object_counts": tuple(config.object_counts)} if config.object_counts else {}
    regions = {"region_size": size // latent_codec(pipe).factor} if config.ground_objects else {}

    def batches(seed: int, **kwargs) -> MarkBatches:
        return MarkBatches(pipe.tokenizer, config.batch_size, WorldConfig(mark_prob=config.mark_prob, **counts),
                           size, empty_prompt_prob=config.empty_prompt_prob, seed=seed, erasing=model.erasing,
                           **regions, **kwargs)

    stage = Stage(None, model, batches(config.seed), list(batches(config.seed + 1, batches_per_epoch=4)(0)),
                  config.schedule())
    yield stage
    facts.update(base=config.init_from, setting="data removal" if config.train_unet else "model removal",
                 parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
                 tokens=list(model.names), concept=config.concept, grid=list(config.grid), alpha=config.alpha,
                 mark_prob=config.mark_prob, object_counts=config.object_counts, batch_size=config.batch_size,
                 lr=config.lr, seed=config.seed, grounding_weight=config.grounding_weight,
                 grounding_pixel_weight=config.grounding_pixel_weight, ground_objects=config.ground_objects,
                 object_weight=config.object_weight, scale=config.scale, window=config.window,
                 seen_region=config.seen_region, **run_facts(stage.result))


def save(model: ErasingTraining, directory: Path) -> None:
    """The learned vectors (and for data removal the whole fine-tuned pipeline, the vectors in its table)."""
    embeddings = model.embeddings()
    if model.train_unet:
        embeddings.install(model.pipe)
        save_weights = getattr(model.pipe, "save_half", model.pipe.save_pretrained)  # gfx's pipelines: float16
        save_weights(directory)
    embeddings.save(directory)


def evaluate(directory: Path, config: GeomErasingRecipe) -> dict:
    """`gfx eval image-controls` on the test split: the base without, and with Geom-Erasing the base (model
    removal) or the fine-tuned pipeline (data removal)."""
    from gfx.recipes.image_controls import evaluate_image_controls

    tuned = (directory / "model_index.json").is_file()
    return evaluate_image_controls("test", config.eval_limit or 0, model=str(directory if tuned else config.init_from),
                                   negative_concept=directory, erasing_baseline=config.init_from if tuned else None)


def card(name: str, facts: dict) -> Card:
    """The geom-erasing card from its facts."""
    tokens = facts["tokens"]
    sampled = f"models/{name}" if facts["setting"] == "data removal" else facts["base"]  # its words' pipeline
    return Card(
        title=name,
        summary=f"Geom-Erasing ({facts['setting']}) of the 2D world's implicit corner mark, learned on "
        f"`{facts['base']}`:\nthe words {tokens[0]} ... {tokens[-1]} ({len(tokens)} tokens, a {facts['grid'][0]}x"
        f"{facts['grid'][1]} location grid), which `GeomErasing` steers away from: {steering(facts)}.",
        datasets=("gfx.data.shapes2d (procedural, generated by gfx)",),
        tags=("text-to-image", "concept-removal", "geom-erasing", "shapes2d"),
        data=f"World scenes with the mark (probability {facts['mark_prob']}), drawn fresh for every batch; marked "
        f"captions end with `{facts['concept']}` and the location tokens of the mark's exact box; "
        f"{facts['batch_size']} scenes per step.",
        run=[f"trained parameters: {facts['parameters']:,} (every other weight of the base is frozen)",
             *run_lines(facts, f"region-reweighted diffusion MSE, alpha {facts['alpha']}")[1:]],
        metrics=erasing_tables(facts["eval"]) if "eval" in facts else [],
        notes=[],
        use=f"""
from gfx.image.geom_erasing import GeomErasing
from gfx.image.pipeline import ShapesDiffusionPipeline
pipe = ShapesDiffusionPipeline.from_pretrained("{sampled}", local_files_only=True)
results = pipe("a large red circle", n=4, seed=0, controls=[GeomErasing("models/{name}")])
""",
    )


def steering(facts: dict) -> str:
    """How the saved concept steers by default, in words."""
    if facts.get("scale") is None:
        return "they are the negative prompt of classifier-free guidance (the paper)"
    where = " inside the mark's boxes of the training images" if facts.get("seen_region") else ""
    when = f", in the steps {facts['window'][0]:g} - {facts['window'][1]:g}" if facts.get("window") else ""
    return f"a negative guidance term of its own at scale {facts['scale']:g}{where}{when}"


def erasing_tables(e: dict) -> list[Table]:
    """The Geom-Erasing section of `gfx eval image-controls` as tables: the mark rate, then quality."""
    g = e["geom_erasing"]
    settings = f"{e['seeds']} seeds per prompt, {e['steps']} DDIM steps, guidance {e['guidance']}"
    if "without_model" in g:
        settings += f"; without: `{g['without_model']}`, with: the fine-tuned pipeline steering away from its words"
    if g.get("scale") is not None:
        settings += f" at a separate negative scale {g['scale']}"
    if g.get("window") is not None:
        settings += f" in the steps {g['window'][0]} - {g['window'][1]} of the loop"
    if g.get("region") is not None:
        settings += f" inside {len(g['region'])} boxes (where the mark was in training)"
    rate = g["concept_rate"]
    rows = [[f"{rate['without']['rate']:.3f} ± {rate['without']['seed_std']:.3f}",
             f"{rate['with']['rate']:.3f} ± {rate['with']['seed_std']:.3f}",
             f"{rate['drop']:+.3f} ± {rate['drop_seed_std']:.3f}", str(rate["beyond_spread"])]]
    tables = [Table(f"`gfx eval image-controls --split {e['split']}`: images showing the mark, {g['prompts']} "
                    f"held-out world captions ({settings}); ± is the spread over seeds.",
                    ["without", "with Geom-Erasing", "drop", "beyond spread"], rows)]
    q = g["quality"]
    rows = [[k.replace("_", " "), f"{q['without'][k]:.3f}", f"{q['with'][k]:.3f}", f"{q['change'][k]:+.3f}"]
            for k in q["change"]]
    fid = g.get("fid", {})
    if "change" in fid:  # absent without models/world-features
        rows.append(["FID (world features, lower is better)", f"{fid['without']:.3f}", f"{fid['with']:.3f}",
                     f"{fid['change']:+.3f}"])
    tables.append(Table(f"No loss elsewhere: the quality gate with and without (at most 5 points lower: "
                        f"{q['within_limit']}).", ["measure", "without", "with", "change"], rows))
    return tables


RECIPE = Recipe(
    name="geom-erasing",
    model_name="geom-erasing",
    config_class=GeomErasingRecipe,
    build=build,
    warm_start=base_loaded,
    stages=stages,
    save=save,
    load=Path,
    evaluate=evaluate,
    card=card,
)
