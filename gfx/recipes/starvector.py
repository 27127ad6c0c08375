"""The `gfx train starvector` recipe: train StarVector on rendered corpus icons and write its model card.

    gfx train starvector                      # models/starvector-mini, resumes from RUNS_DIR/starvector-mini
    gfx train starvector --steps 20000 --out models/starvector-mini
    gfx train starvector --protocol unseen-source --out models/starvector-unseen   # without Lucide's icons

The skeleton (seed, checkpoints, time limit, save, card) is `gfx.recipes.run`; `init_from` warm-starts a new
run from a saved pipeline (one saved without the pointer head gets a fresh one).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gfx.checkpoint import load_weights
from gfx.recipes.card import Card, Table, run_lines
from gfx.recipes.icon_protocols import HELD_OUT_SOURCE, UNSEEN_SOURCE, unseen_source_split
from gfx.recipes.iconshop import ICON_DATASETS
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts
from gfx.recipes.starvector_data import ImageAugmentConfig, StarVectorBatches, load_documents
from gfx.svg.starvector import StarVector, StarVectorConfig

METHODS = ("neural", "neural+refine", "vtracer")
"""The vectorizers of the card's table."""


@dataclass
class StarVectorRecipe(RecipeConfig):
    """The starvector schedule; the defaults are models/starvector-mini's (3,600 steps after a warm start from a
    first model that is no longer shipped, so `init_from` is left unset)."""

    PRESETS = {"tiny": dict(preset="tiny", steps=2, batch_size=2, eval_limit=0)}

    steps: int = 3600
    batch_size: int = 32
    lr: float = 1.5e-3
    warmup_steps: int = 200
    eval_every: int = 500
    eval_batches: int = 5
    checkpoint_every: int = 50
    eval_limit: int | None = 100  # test icons of the card's vectorize table
    protocol: str | None = None  # "unseen-source": train without `source`'s icons, test on them (icon_protocols)
    source: str = HELD_OUT_SOURCE  # the icon source the unseen-source protocol holds out


def splits(config: StarVectorRecipe) -> tuple[list, list]:
    """The (train, val) icon records: the corpus splits, without the held-out source under the protocol."""
    from gfx.data.icons import load_icons

    if config.protocol is None:
        return load_icons(split="train"), load_icons(split="val")
    if config.protocol != UNSEEN_SOURCE:
        raise ValueError(f"unknown training protocol {config.protocol!r}; valid: {UNSEEN_SOURCE}")
    held_out = unseen_source_split(config.source)
    return held_out.train, held_out.val


def stages(pipe: StarVector, config: StarVectorRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """One stage: the whole model on augmented renders of the corpus icons (`splits`)."""
    c = pipe.config
    train, val = splits(config)
    train_docs = load_documents(train, pipe.tokenizer, c.max_tokens)
    val_docs = load_documents(val, pipe.tokenizer, c.max_tokens)

    def batches(docs, augment):
        return StarVectorBatches(docs, pipe.tokenizer, c.image_size, config.batch_size, c.max_tokens, augment,
                                 seed=config.seed)

    facts.update(preset=config.preset, parameters=parameter_count(pipe.model), train_icons=len(train_docs),
                 val_icons=len(val_docs))
    if config.protocol is not None:
        facts.update(protocol=config.protocol, source=config.source)
    stage = Stage(None, pipe.model, batches(train_docs, ImageAugmentConfig()), batches(val_docs, None),
                  config.schedule())
    yield stage
    run = run_facts(stage.result)
    facts.update(steps=run.pop("steps"), planned_steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                 seed=config.seed, **run)


def evaluate(pipe: StarVector, config: StarVectorRecipe) -> dict:
    """`evaluate_vectorize` of the neural vectorizer and its baselines on the test split; under the protocol, the
    protocol's table on the held-out source's test icons."""
    from gfx.recipes.vectorize import evaluate_vectorize

    if config.protocol is not None:
        return evaluate_vectorize(split="test", limit=config.eval_limit or 0, model=pipe, protocol=config.protocol,
                                  source=config.source)
    return evaluate_vectorize(split="test", limit=config.eval_limit or 0, methods=list(METHODS), model=pipe)


def card(name: str, facts: dict) -> Card:
    """The starvector model card from its facts."""
    run = run_lines(facts, "next-token cross-entropy", steps=f"{facts['steps']} of {facts['planned_steps']} planned")
    if facts["steps"] < facts["planned_steps"]:
        run.append(f"**undertrained**: the run stopped at its time limit after {facts['steps']} of "
                   f"{facts['planned_steps']} steps (the cosine schedule had not finished); `gfx train starvector` "
                   "resumes it.")
    return Card(
        title=name,
        summary="StarVector-style image -> icon model of gfx: a strided CNN image encoder and StarVector's adapter\n"
        "(Linear -> 2x, Swish, Linear -> width, LayerNorm) whose 8 x 8 visual tokens prefix a decoder-only\n"
        "transformer over PathTokenizer tokens (49-value lattice on the 24-unit viewBox, M/L/C/Z, stroke/fill\n"
        "style tokens). A pointer head adds image-dependent logits to the point tokens: the decoder state queries\n"
        "a key per lattice point, sampled from the CNN's feature maps where the point lies (`PointerHead`).\n"
        "Sampling is always grammar-constrained, so outputs are valid SVG; `vectorize_batch`\n"
        "keeps the best of a few samples, and `gfx.svg.vectorize(..., method='neural+refine')` refines it\n"
        "with the soft rasterizer.",
        datasets=ICON_DATASETS,
        tags=("image-to-svg", "vectorization", "icons", "starvector"),
        data=f"The committed icon corpus (`assets/icons/`: Tabler, Lucide, MDI), train split: {facts['train_icons']} "
        "icons\nthat fit the token budget, rendered with cairosvg at the model's image size on white; validation: "
        f"{facts['val_icons']} icons. Augmentation: scale + shift (tokens move with the picture), stroke width,\n"
        "dark ink colour, Gaussian blur, pixel noise."
        + (f" Unseen-source protocol (`gfx.recipes.icon_protocols`): every `{facts['source']}` icon is left out of "
           "training and validation;\nthe metrics are on its test icons." if facts.get("protocol") else ""),
        run=run,
        metrics=[vectorize_table(facts["eval"])] if "eval" in facts else [],
        notes=vectorize_notes(facts["eval"]) if "eval" in facts else [],
        use=f"""
from gfx.svg.starvector import StarVector
pipe = StarVector.from_pretrained("models/{name}")
[result] = pipe.vectorize_batch(["icon.png"], seed=0)   # best of the shipped number of samples
print(result.svg)
# or, with the soft-rasterizer refinement: gfx.svg.vectorize("icon.png", method="neural+refine")
""",
    )


def vectorize_table(e: dict) -> Table:
    """The `gfx eval vectorize` report as a table, one row per method (with the fallback rate, when measured)."""
    fallback = all("fallback_rate" in m for m in e["methods"].values())
    rows = [[method, f"{m['mse']:.4f}", f"{m['ssim']:.4f}", f"{m['tokens']:.2f}", f"{m['bytes']:.2f}",
             f"{m['validity']:.3f}", f"{m['seconds_median']:.4f}", *([f"{m['fallback_rate']:.3f}"] if fallback else []),
             str(m["failures"])]
            for method, m in e["methods"].items()]
    images = e.get("images", e.get("icons"))  # "icons" in reports written before the colour set
    title = (f"`gfx eval vectorize --protocol {e['protocol']} --source {e['source']}`: {images} test icons of the "
             f"held-out source rendered at {e['size']} px." if e.get("protocol") else
             f"`gfx eval vectorize --split test`: {images} test icons rendered at {e['size']} px.")
    return Table(title, ["method", "MSE", "SSIM", "tokens", "bytes", "validity", "s (median)",
                         *(["fallback rate"] if fallback else []), "failures"], rows)


def vectorize_notes(e: dict) -> list[str]:
    """The baselines' settings, and which of our methods Pareto-dominate which baseline."""
    settings = "; ".join(f"`{k}`: {v}" for k, v in e.get("settings", {}).items())
    pareto = ", ".join(f"{pair}: {'yes' if better else 'no'}" for pair, better in e.get("pareto", {}).items())
    return [f"Settings: {settings}.", f"Pareto-dominates (MSE no worse and bytes no more): {pareto}."]


RECIPE = Recipe(
    name="starvector",
    model_name="starvector-mini",
    config_class=StarVectorRecipe,
    build=lambda config: StarVector.build(StarVectorConfig.from_name(config.preset)),
    warm_start=lambda pipe, path: load_weights(pipe.model, path, new_modules=("pointer.",)),
    stages=stages,
    save=lambda pipe, path: pipe.save_pretrained(path),
    load=StarVector.from_pretrained,
    evaluate=evaluate,
    card=card,
)
