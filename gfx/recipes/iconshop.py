"""The `gfx train iconshop` recipe: train IconShop on the committed icon corpus and write its model card.

    gfx train iconshop                       # models/iconshop-mini, resumes from .cache/train/iconshop-mini
    gfx train iconshop --steps 20000 --preset small --out models/iconshop-small

Training state (weights, optimizer, RNG) is checkpointed under `gfx.train.RUNS_DIR/<name>/` every few minutes,
so an interrupted run continues where it stopped. A new session without that cache can warm-start
from the shipped weights (`init_from`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from gfx.checkpoint import load_weights
from gfx.recipes.card import machine_facts, run_facts, write_model_card
from gfx.recipes.iconshop_data import AugmentConfig, IconBatches, tokenize_records
from gfx.runtime import seed_everything
from gfx.svg.iconshop import IconShop, IconShopConfig
from gfx.train import RUNS_DIR, Prefetch, TrainConfig, train

log = logging.getLogger(__name__)


def train_iconshop(
    out_dir: str | Path = "models/iconshop-mini",
    *,
    preset: str = "mini",
    steps: int = 12000,
    batch_size: int = 24,
    lr: float = 1e-3,
    resume: bool = True,
    init_from: str | Path | None = None,
    seed: int = 0,
    eval_limit: int = 0,
    progress=None,
    device: str | None = None,
    prefetch: int | None = None,
) -> dict:
    """Train (or continue training) an IconShop pipeline and save it to `out_dir` with a model card.

    Args:
        out_dir: where the shipped pipeline goes.
        preset: `IconShopConfig` preset (model size, grid, max tokens).
        steps: total optimizer steps of the run.
        batch_size: icons per step.
        lr: peak learning rate (warmup then cosine).
        resume: continue from `.cache/train/<out_dir name>/checkpoint` when present.
        init_from: a saved pipeline whose weights start a new run (e.g. the shipped model).
        seed: seeds data order, augmentation and initialisation.
        eval_limit: test prompts used for the metrics in the model card (0: skip the evaluation).
        progress: `callback(gfx.train.Progress)` after each step.
        device: "cpu", "cuda", ...; default: CUDA when available.
        prefetch: batches collated ahead in a background thread (default: 4 on CUDA, none on CPU).

    Returns:
        The model card facts (also written to `out_dir/README.md` and `out_dir/metrics.json`).
    """
    from gfx.backbones.text_encoder import text_encoder
    from gfx.data.icons import load_icons
    from gfx.runtime import default_device

    out_dir = Path(out_dir)
    work_dir = RUNS_DIR / out_dir.name
    config = IconShopConfig.from_name(preset)
    seed_everything(seed)
    pipe = IconShop.build(config)
    if init_from is not None:
        load_weights(pipe.model, init_from)
    started = time.perf_counter()
    train_samples = tokenize_records(load_icons(split="train"), pipe.tokenizer, config.max_tokens)
    val_samples = tokenize_records(load_icons(split="val"), pipe.tokenizer, config.max_tokens)
    log.info("tokenized %d train and %d val icons in %.0f s", len(train_samples), len(val_samples),
             time.perf_counter() - started)
    device = device or default_device()
    train_data = IconBatches(train_samples, pipe.tokenizer, batch_size, AugmentConfig(), seed=seed)
    text_encoder().to(device)  # prompts are encoded per batch, on the training device
    if prefetch is None:
        prefetch = 4 if torch.device(device).type == "cuda" else 0
    if prefetch:  # collate the next batches in a background thread while the device trains
        train_data = Prefetch(train_data, depth=prefetch)
    train_config = TrainConfig(steps=steps, lr=lr, warmup_steps=min(500, steps // 10), weight_decay=0.1,
                               eval_every=1000, eval_batches=10, checkpoint_every=250, log_every=50, seed=seed)
    result = train(
        pipe.model,
        train_data,
        train_config,
        val_data=IconBatches(val_samples, pipe.tokenizer, batch_size, None, seed=seed),
        out_dir=work_dir,
        resume=resume,
        callback=progress,
        device=device,
    )
    text_encoder().to("cpu")
    pipe.model.to("cpu").eval()
    pipe.save_pretrained(out_dir)
    card = {
        "preset": preset,
        "parameters": sum(p.numel() for p in pipe.model.parameters()),
        "train_icons": len(train_samples),
        "val_icons": len(val_samples),
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        **run_facts(result),
        **machine_facts(device),
    }
    if eval_limit:
        from gfx.recipes.iconshop_eval import evaluate_iconshop

        card["eval"] = evaluate_iconshop(pipe, split="test", limit=eval_limit, seed=seed)
    write_model_card(out_dir, card, model_card(out_dir.name, card))
    return card


def model_card(name: str, card: dict) -> str:
    """The model card text (markdown) from the run's facts."""
    lines = [
        f"# {name}",
        "",
        "IconShop-style text -> icon model of gfx: a decoder-only transformer over PathTokenizer tokens",
        "(one token per lattice point, M/L/C/Z, stroke/fill style tokens) with the prompt's MiniLM token",
        "states as a prefix, trained with shuffled-keyword prompts, 10% empty prompts (classifier-free",
        "guidance) and 50% fill-in-the-middle spans. Sampling is always grammar-constrained.",
        "",
        "## Data",
        f"The committed icon corpus (`assets/icons/`: Tabler outline + filled, Lucide, MDI), train split: "
        f"{card['train_icons']} icons that fit the token budget; validation: {card['val_icons']} icons.",
        "",
        "## Recipe",
        f"`gfx train iconshop --preset {card['preset']} --steps {card['steps']} --out models/{name}` "
        f"(seed {card['seed']}, batch {card['batch_size']}, peak lr {card['lr']}, AdamW, warmup + cosine).",
        "",
        "## Run",
        f"- parameters: {card['parameters']:,}",
        f"- steps: {card['steps']}; wall time: {card['train_wall_time_s'] / 60:.0f} min on {card['device']} "
        f"({card['machine']})",
        f"- final train loss {card['train_loss']}, validation loss {card['val_loss']} (next-token cross-entropy)",
    ]
    if "history_note" in card:
        lines += [f"- run history: {card['history_note']}"]
    if "eval" in card:
        e = card["eval"]
        model, base = e["iconshop"], e["retrieval_baseline"]
        lines += [
            "", "## Evaluation (`gfx eval iconshop --split test`)", "",
            f"{e['icons']} test prompts, one icon each (seed {e['seed']}). Evaluator = `models/icon-clip`.", "",
            "| | validity | evaluator score | FID (icon-clip features) | uniqueness % | novelty % | s / icon |",
            "|---|---|---|---|---|---|---|",
            f"| iconshop | {model['validity']:.3f} | {model['evaluator_score']:.3f} | {model['fid']:.2f} | "
            f"{model['uniqueness_pct']:.1f} | {model['novelty_pct']:.1f} | {model['seconds_per_icon_median']:.2f} |",
            f"| retrieval baseline | {base['validity']:.3f} | {base['evaluator_score']:.3f} | {base['fid']:.2f} | "
            f"{base['uniqueness_pct']:.1f} | {base['novelty_pct']:.1f} | - |",
            f"| real test icons | 1.000 | {e['real_icons_evaluator_score']:.3f} | 0 | - | - | - |",
            "",
            f"The model's evaluator score is {model['evaluator_score'] / e['real_icons_evaluator_score']:.0%} of the "
            f"real icons' for the same prompts (retrieval baseline: "
            f"{base['evaluator_score'] / e['real_icons_evaluator_score']:.0%}).",
        ]
    return "\n".join(lines) + "\n"
