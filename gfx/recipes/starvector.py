"""The `gfx train starvector` recipe: train StarVector on rendered corpus icons and write its model card.

    gfx train starvector                      # models/starvector-mini, resumes from RUNS_DIR/starvector-mini
    gfx train starvector --steps 20000 --out models/starvector-mini

Training state (weights, optimizer, RNG) is checkpointed under `gfx.train.RUNS_DIR/<name>/` every few
minutes, so an interrupted run continues where it stopped; `init_from` warm-starts a new run from a
saved pipeline.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from gfx.checkpoint import load_weights
from gfx.recipes.card import machine_facts, write_model_card
from gfx.recipes.starvector_data import ImageAugmentConfig, StarVectorBatches, load_documents
from gfx.runtime import seed_everything
from gfx.svg.starvector import StarVector, StarVectorConfig
from gfx.train import RUNS_DIR, Progress, TrainConfig, evaluate, train

log = logging.getLogger(__name__)


class _TimeUp(Exception):
    """Raised from the progress callback to end a run at its time limit."""


def train_starvector(
    out_dir: str | Path = "models/starvector-mini",
    *,
    preset: str = "mini",
    steps: int = 20000,
    batch_size: int = 32,
    lr: float = 1.5e-3,
    resume: bool = True,
    init_from: str | Path | None = None,
    seed: int = 0,
    eval_limit: int = 0,
    history_note: str | None = None,
    checkpoint_every: int = 50,
    time_limit_s: float | None = None,
    progress=None,
    device: str | None = None,
) -> dict:
    """Train (or continue training) a StarVector pipeline and save it to `out_dir` with a model card.

    Args:
        out_dir: where the shipped pipeline goes.
        preset: `StarVectorConfig` preset (model size, grid, image size, max tokens).
        steps: total optimizer steps of the run.
        batch_size: icons per step.
        lr: peak learning rate (warmup then cosine).
        resume: continue from `RUNS_DIR/<out_dir name>/checkpoint` when present.
        init_from: a saved pipeline whose weights start a new run (a model saved without the pointer head
            gets a fresh one).
        seed: seeds data order, augmentation and initialisation.
        eval_limit: test icons for the vectorize metrics in the model card (0: skip).
        history_note: how the run came about (warm starts, resumed schedules), for the model card.
        checkpoint_every: steps between resumable checkpoints.
        time_limit_s: stop once the run's training time (resumed parts included) reaches this, and ship
            the model as it is (the card says so); None: run all `steps`.
        progress: `callback(gfx.train.Progress)` after each step.
        device: "cpu", "cuda", ...; default: CUDA when available.

    Returns:
        The model card facts (also written to `out_dir/README.md` and `out_dir/metrics.json`).
    """
    from gfx.data.icons import load_icons
    from gfx.runtime import default_device

    out_dir = Path(out_dir)
    config = StarVectorConfig.from_name(preset)
    seed_everything(seed)
    pipe = StarVector.build(config)
    if init_from is not None:
        load_weights(pipe.model, init_from, new_modules=("pointer.",))
    train_docs = load_documents(load_icons(split="train"), pipe.tokenizer, config.max_tokens)
    val_docs = load_documents(load_icons(split="val"), pipe.tokenizer, config.max_tokens)
    make = lambda docs, augment: StarVectorBatches(docs, pipe.tokenizer, config.image_size, batch_size,  # noqa: E731
                                                   config.max_tokens, augment, seed=seed)
    train_config = TrainConfig(steps=steps, lr=lr, warmup_steps=min(200, steps // 10), weight_decay=0.1,
                               eval_every=500, eval_batches=5, checkpoint_every=checkpoint_every, log_every=25,
                               seed=seed)
    device = device or default_device()
    val_data = make(val_docs, None)
    last: list[Progress] = []

    def on_step(p: Progress) -> None:
        last[:] = [p]
        if progress is not None:
            progress(p)
        if time_limit_s is not None and p.elapsed_s >= time_limit_s and p.step < steps:
            raise _TimeUp

    try:
        result = train(pipe.model, make(train_docs, ImageAugmentConfig()), train_config, val_data=val_data,
                       out_dir=RUNS_DIR / out_dir.name, resume=resume, callback=on_step, device=device)
        step, train_loss, val_loss, elapsed = result.step, result.train_loss, result.val_loss, result.elapsed_s
    except _TimeUp:
        p = last[0]
        log.info("time limit %.0f s reached at step %d of %d; shipping the model as it is", time_limit_s, p.step, steps)
        val_loss = evaluate(pipe.model, val_data, lambda m, b: m.loss(b), torch.device(device), 5, False)
        step, train_loss, elapsed = p.step, p.loss, p.elapsed_s
    pipe.model.to("cpu").eval()
    pipe.save_pretrained(out_dir)
    card = {
        "preset": preset,
        "parameters": sum(p.numel() for p in pipe.model.parameters()),
        "train_icons": len(train_docs),
        "val_icons": len(val_docs),
        "steps": step,
        "planned_steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "history_note": history_note,
        "train_loss": round(train_loss, 4),
        "val_loss": None if val_loss is None else round(val_loss, 4),
        "train_wall_time_s": round(elapsed),
        **machine_facts(device),
    }
    if eval_limit:
        from gfx.recipes.vectorize import evaluate_vectorize

        card["eval"] = evaluate_vectorize(split="test", limit=eval_limit, methods=["neural", "neural+refine", "vtracer"],
                                          model=pipe)
    write_model_card(out_dir, card, model_card(out_dir.name, card))
    return card


def model_card(name: str, card: dict) -> str:
    """The model card text (markdown) from the run's facts."""
    lines = [
        f"# {name}",
        "",
        "StarVector-style image -> icon model of gfx: a strided CNN image encoder and StarVector's adapter",
        "(Linear -> 2x, Swish, Linear -> width, LayerNorm) whose 8 x 8 visual tokens prefix a decoder-only",
        "transformer over PathTokenizer tokens (49-value lattice on the 24-unit viewBox, M/L/C/Z, stroke/fill",
        "style tokens). A pointer head adds image-dependent logits to the point tokens: the decoder state queries",
        "a key per lattice point, sampled from the CNN's feature maps where the point lies (`PointerHead`).",
        "Sampling is always grammar-constrained, so outputs are valid SVG; `vectorize_batch`",
        "keeps the best of a few samples, and `gfx.svg.vectorize(..., method='neural+refine')` refines it",
        "with the soft rasterizer.",
        "",
        "## Data",
        f"The committed icon corpus (`assets/icons/`: Tabler, Lucide, MDI), train split: {card['train_icons']} icons",
        f"that fit the token budget, rendered with cairosvg at the model's image size on white; validation:"
        f" {card['val_icons']} icons. Augmentation: scale + shift (tokens move with the picture), stroke width,",
        "dark ink colour, Gaussian blur, pixel noise.",
        "",
        "## Recipe",
        f"`gfx train starvector --preset {card['preset']} --steps {card['planned_steps']} --out models/{name}` "
        f"(seed {card['seed']}, batch {card['batch_size']}, peak lr {card['lr']}, AdamW, warmup + cosine).",
        "",
        "## Run",
        f"- parameters: {card['parameters']:,}",
        f"- steps: {card['steps']} of {card['planned_steps']} planned; wall time: {card['train_wall_time_s'] / 60:.0f} min"
        f" on {card['device']} ({card['machine']})",
        f"- final train loss {card['train_loss']}, validation loss {card['val_loss']} (next-token cross-entropy)",
    ]
    if card.get("history_note"):
        lines += [f"- run history: {card['history_note']}"]
    if card["steps"] < card["planned_steps"]:
        lines += ["", f"**Undertrained**: the run stopped at its time limit after {card['steps']} of "
                  f"{card['planned_steps']} steps (the cosine schedule had not finished); `gfx train starvector` "
                  "resumes it."]
    if "eval" in card:
        lines += ["", "## Evaluation (`gfx eval vectorize --split test`)", "", "```",
                  json.dumps(card["eval"], indent=2), "```"]
    return "\n".join(lines) + "\n"
