"""The `gfx train icon-clip` recipe: train the IconCLIP evaluator on the icon corpus and write its model card.

    gfx train icon-clip                      # models/icon-clip, resumes from .cache/train/icon-clip

The inputs (cairosvg renders of every train and val icon, MiniLM embeddings of every prompt variant) are
computed once and cached in `CACHE_DIR`; training state (weights, optimizer, RNG) is checkpointed under
`gfx.train.RUNS_DIR/<name>/` every 200 steps, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gfx.backbones.text_encoder import text_encoder
from gfx.data.icons import SPLIT_RULE, IconRecord, load_icons, read_manifest
from gfx.files import atomic_open
from gfx.paths import cache_dir
from gfx.runtime import seed_everything
from gfx.svg.core.metrics import frechet_distance
from gfx.svg.icon_clip import (
    DEFAULT_MODEL_DIR,
    IconCLIP,
    IconCLIPConfig,
    ProgressFn,
    rasterize,
    retrieval_metrics,
    to_ink,
)
from gfx.train import RUNS_DIR, Progress, TrainConfig, train

log = logging.getLogger(__name__)

CACHE_DIR = cache_dir("icon-clip")
"""Rendered rasters and text embeddings of the corpus (gitignored, rebuilt on demand)."""
DEFAULT_STEPS = 2000
BATCH_SIZE = 128
TEXT_VARIANTS = 3
"""Prompts per training icon: its `.text`, then shuffled keyword subsets (`augment_prompt`)."""


# ---------------------------------------------------------------- evaluation on a corpus split


def evaluate_icon_clip(model: IconCLIP, split: str = "val", limit: int | None = None,
                       cache_dir: Path | None = CACHE_DIR) -> dict[str, float]:
    """`retrieval_metrics` of `model` over a corpus split, each icon paired with its `.text` prompt."""
    records = load_icons(split=split)[:limit]
    gray = corpus_rasters(records, model.config.image_size, model.config.background, cache_dir)
    return retrieval_metrics(model.encode_images(gray), model.encode_texts([r.text for r in records]),
                             [r.text for r in records])


# ---------------------------------------------------------------- training data


def augment_prompt(text: str, rng: np.random.Generator, max_keywords: int = 5) -> str:
    """A training prompt from a record's `.text`: a random subset of its keywords, shuffled.

    The first keyword (the icon name) is kept with probability 0.8.
    """
    keywords = [k for k in text.split(", ") if k]
    if len(keywords) <= 1:
        return text
    name, rest = keywords[0], keywords[1:]
    keep_name = rng.random() < 0.8
    k = int(rng.integers(0 if keep_name else 1, min(len(rest), max_keywords - keep_name) + 1))
    chosen = [rest[i] for i in rng.choice(len(rest), size=k, replace=False)] + ([name] if keep_name else [])
    rng.shuffle(chosen)
    return ", ".join(chosen)


def prompt_variants(records: Sequence[IconRecord], n_variants: int, seed: int) -> list[list[str]]:
    """Per record: its `.text`, then `n_variants - 1` augmented prompts (deterministic in `seed`)."""
    rng = np.random.default_rng(seed)
    return [[r.text] + [augment_prompt(r.text, rng) for _ in range(n_variants - 1)] for r in records]


def _cache_key(*parts: object) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:16]


def corpus_rasters(records: Sequence[IconRecord], size: int, background: str, cache_dir: Path | None = CACHE_DIR,
                   progress: ProgressFn | None = None) -> np.ndarray:
    """`rasterize` the records' SVGs, cached as a compressed .npz keyed by ids, size and background."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"rasters-{size}-{_cache_key(size, background, *(r.id for r in records))}.npz"
        if path.is_file():
            return np.load(path)["gray"]
    gray = rasterize([r.svg for r in records], size, background, progress)
    if path is not None:
        with atomic_open(path, "wb") as f:
            np.savez_compressed(f, gray=gray)
    return gray


def corpus_text_embeddings(prompts: list[str], cache_dir: Path | None = CACHE_DIR,
                           progress: ProgressFn | None = None) -> np.ndarray:
    """`TextEncoder.embed_many`, cached as float16 in a .npz keyed by the prompt list: (N, 384) float32."""
    path = Path(cache_dir) / f"text-{_cache_key(*prompts)}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        return np.load(path)["text"].astype(np.float32)
    text = text_encoder().embed_many(prompts, progress=progress).astype(np.float16)
    if path is not None:
        with atomic_open(path, "wb") as f:
            np.savez_compressed(f, text=text)
    return text.astype(np.float32)


def augment_ink(ink: Tensor, rng: np.random.Generator, max_shift: float = 0.08,
                scale_range: tuple[float, float] = (0.9, 1.1)) -> Tensor:
    """Random small shifts (fraction of the half side) and zooms of (B, 1, S, S) ink; background stays 0."""
    b = len(ink)
    scale = torch.from_numpy(rng.uniform(*scale_range, size=b)).float()
    shift = torch.from_numpy(rng.uniform(-max_shift, max_shift, size=(b, 2))).float()
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    return F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def contrastive_batches(gray: np.ndarray, text: np.ndarray, batch_size: int, seed: int,
                        augment: bool = True) -> Callable[[int], Iterator[dict[str, Tensor]]]:
    """Training data for `gfx.train.train`: `epoch -> batches` of {"ink", "text"}.

    Each epoch shuffles the icons, picks one prompt variant per icon and (with `augment`) shifts and
    zooms the images, all from a generator seeded by (seed, epoch), so a resumed run sees the same data.

    Args:
        gray: (N, S, S) uint8 luminance renders.
        text: (N, V, 384) float MiniLM embeddings of V prompt variants per icon, or (N, 384).
        batch_size: pairs per batch; the last partial batch of an epoch is dropped.
    """
    text = text[:, None] if text.ndim == 2 else text
    if len(gray) != len(text) or len(gray) < batch_size:
        raise ValueError(f"need >= batch_size ({batch_size}) icons with one text row each; got {len(gray)}, {len(text)}")
    size = gray.shape[-1]

    def epoch_batches(epoch: int) -> Iterator[dict[str, Tensor]]:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(gray))
        variant = rng.integers(0, text.shape[1], size=len(gray)) if augment else np.zeros(len(gray), int)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            ink = to_ink(gray[index], size)
            yield {"ink": augment_ink(ink, rng) if augment else ink,
                   "text": torch.from_numpy(text[index, variant[index]].astype(np.float32))}

    return epoch_batches


# ---------------------------------------------------------------- the recipe


def train_icon_clip(out_dir: str | Path = DEFAULT_MODEL_DIR, resume: bool = False, steps: int = DEFAULT_STEPS,
                    progress: Callable[[Progress], None] | None = None, *, preset: str = "default",
                    batch_size: int = BATCH_SIZE, text_variants: int = TEXT_VARIANTS, seed: int = 0,
                    limit: int | None = None, run_dir: str | Path | None = None,
                    cache_dir: Path | None = CACHE_DIR) -> dict[str, Any]:
    """Train the icon evaluator on the corpus train split, evaluate it on val, save it with a model card.

    The whole run is a function of the committed corpus and `seed`. Checkpoints (with optimizer state)
    go to `run_dir` (default `gfx.train.RUNS_DIR/<name of out_dir>`) every 200 steps; `resume=True`
    continues from there. The final weights are stored as float16 in `out_dir` with config.json, README.md (the model card)
    and metrics.json (the returned summary).

    Args:
        out_dir: the model directory to write.
        resume: continue from the last checkpoint in `run_dir`.
        steps: optimizer steps.
        progress: receives a `gfx.train.Progress` after every training step (rendering and prompt
            embedding report through `logging`).
        preset: an `IconCLIPConfig` preset.
        batch_size: pairs per step (the InfoNCE negatives are the rest of the batch).
        text_variants: prompts per icon, see `prompt_variants`.
        seed: seeds initialisation, prompt augmentation and data order.
        limit: use only the first `limit` train and val icons (tests).
        run_dir: checkpoint directory.
        cache_dir: raster and text-embedding cache; None disables it.

    Returns:
        The model card's numbers: steps, wall time, losses and the val `retrieval_metrics`.
    """
    out_dir = Path(out_dir)
    run_dir = Path(run_dir) if run_dir is not None else RUNS_DIR / out_dir.name
    config = IconCLIPConfig.from_name(preset)
    started = time.perf_counter()
    train_records, val_records = load_icons(split="train")[:limit], load_icons(split="val")[:limit]
    # 1. inputs: renders and MiniLM embeddings of every prompt variant, computed once and cached
    gray = corpus_rasters(train_records, config.image_size, config.background, cache_dir, _progress_log())
    variants = prompt_variants(train_records, text_variants, seed)
    flat = corpus_text_embeddings([p for v in variants for p in v], cache_dir, _progress_log())
    text = flat.reshape(len(train_records), text_variants, -1)
    val_gray = corpus_rasters(val_records, config.image_size, config.background, cache_dir)
    val_text = corpus_text_embeddings([r.text for r in val_records], cache_dir)
    prepare_s = time.perf_counter() - started
    # 2. train with the shared loop
    seed_everything(seed)
    model = IconCLIP(config)
    train_config = TrainConfig(steps=steps, lr=1e-3, warmup_steps=min(100, steps // 10 + 1), weight_decay=0.05,
                               betas=(0.9, 0.98), eval_every=250, eval_batches=0, checkpoint_every=200,
                               log_every=50, seed=seed)
    val_batches = list(contrastive_batches(val_gray, val_text, min(batch_size, len(val_gray)), seed, augment=False)(0))
    result = train(model, contrastive_batches(gray, text, batch_size, seed), train_config, val_data=val_batches,
                   out_dir=run_dir, resume=resume, callback=progress)
    # 3. save fp16 weights, evaluate what was saved on val, write the model card
    model.save_pretrained(out_dir, dtype=torch.float16)
    model = IconCLIP.from_pretrained(out_dir)
    metrics = retrieval_metrics(model.encode_images(val_gray), model.project_text(val_text), [r.text for r in val_records])
    features = model.image_features(val_gray)
    metrics["fid_val_halves"] = frechet_distance(features[0::2], features[1::2])  # the floor at this sample size
    summary = {
        "preset": preset, "image_size": config.image_size, "feature_dim": config.channels[-1], "steps": result.step, "batch_size": batch_size, "text_variants": text_variants,
        "seed": seed, "threads": torch.get_num_threads(), "train_icons": len(train_records), "val_icons": len(val_records),
        "parameters": sum(p.numel() for p in model.parameters()), "train_wall_s": result.elapsed_s,
        "prepare_wall_s": prepare_s, "train_loss": result.train_loss, "val_loss": result.val_loss,
        "temperature": float(1.0 / model.logit_scale.detach().exp().clamp(max=config.max_logit_scale)), **metrics,
    }
    write_model_card(out_dir, summary, train_records)
    with atomic_open(out_dir / "metrics.json", "w") as f:
        f.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    log.info("icon-clip: val image->text top1 %.3f top5 %.3f", metrics["image_to_text_top1"],
             metrics["image_to_text_top5"])
    return summary


def _progress_log() -> ProgressFn:
    """A `ProgressFn` that logs each label at every tenth of its total."""
    logged: dict[str, int] = {}

    def report(done: int, total: int, label: str) -> None:
        tenth = done * 10 // max(total, 1)
        if logged.get(label) != tenth:
            logged[label] = tenth
            log.info("%s: %d/%d", label, done, total)

    return report


def write_model_card(out_dir: Path, summary: dict[str, Any], train_records: Sequence[IconRecord]) -> Path:
    """Write out_dir/README.md: data, recipe, steps, wall time and val metrics."""
    sources: dict[str, int] = {}
    for r in train_records:
        sources[r.source] = sources.get(r.source, 0) + 1
    packages = read_manifest().get("sources", {})
    source_lines = "\n".join(
        f"- `{name}`: {count} icons{_package_note(packages.get(name))}" for name, count in sources.items()
    )
    s = summary
    rows = "\n".join(
        f"| top-{k} | {s[f'image_to_text_top{k}']:.3f} | {s[f'text_to_image_top{k}']:.3f} | {s[f'chance_top{k}']:.4f} |"
        for k in (1, 5)
    )
    text = f"""# icon-clip: the icon evaluator

A small contrastive image-text model of icons (`gfx.svg.icon_clip.IconCLIP`): a CNN over {s['image_size']} px
grayscale renders and an MLP over the frozen MiniLM (all-MiniLM-L6-v2) sentence embedding, trained with
CLIP's symmetric InfoNCE loss. gfx uses it where papers use CLIP and Inception, whose weights cannot be
downloaded here: `score` (a CLIP-score stand-in), `retrieval_accuracy`, and `image_features` for FID.

## Data

The committed icon corpus (`assets/icons/`), train split ({s['train_icons']} icons); metrics on the val split
({s['val_icons']} icons). Split rule: {SPLIT_RULE}.

{source_lines}

Prompts: the record's `.text` (name words, tags, category) plus {s['text_variants'] - 1} shuffled keyword subsets per
icon; images: small random shifts (up to 4% of the side) and zooms (0.9-1.1).

## Recipe

    gfx train icon-clip            # = gfx.recipes.icon_clip.train_icon_clip(); add --resume to continue

Preset `{s['preset']}` ({s['parameters']:,} parameters, stored as float16), AdamW lr 1e-3 with warmup and cosine
decay, batch {s['batch_size']}, {s['steps']} steps, seed {s['seed']}. Wall time on a 2-core CPU shared with other
jobs, {s['threads']} torch thread(s): {s['train_wall_s'] / 60:.1f} min training. Input preparation in this run:
{s['prepare_wall_s'] / 60:.1f} min (rendering the icons and MiniLM-embedding {s['train_icons'] * s['text_variants']:,}
training prompts happens once; both are cached in `.cache/icon-clip/`). Final train loss {s['train_loss']:.3f},
val loss {s['val_loss']:.3f}; learned temperature {s['temperature']:.4f}.

## Metrics (val split, each icon paired with its `.text`, {s['n']} pairs)

Retrieval among all val pairs (identical prompts count as the same item):

| | image -> text | text -> image | chance |
|---|---|---|---|
{rows}

Score (cosine, the value `IconCLIP.score` returns): matched pairs {s['matched_score']:.3f} on average,
mismatched pairs {s['mismatched_score']:.3f}.

FID on `image_features` (its own scale, not Inception's): {s['fid_val_halves']:.3f} between the even and odd
halves of the val split, the floor for two samples of {s['n'] // 2} icons from one distribution.

## Use

    from gfx.svg.icon_clip import IconCLIP
    model = IconCLIP.from_pretrained("models/icon-clip")
    model.score(svgs, prompts)           # (N,) cosine in [-1, 1]; CLIPScore convention: 100 * max(cos, 0)
    model.image_features(svgs)           # (N, {s['feature_dim']}) features for gfx.svg.core.metrics.frechet_distance

Scores are only comparable between runs of this checkpoint, not with real CLIP numbers. Colour is
ignored (luminance only); the model knows only the concepts named in the corpus metadata.
"""
    path = out_dir / "README.md"
    with atomic_open(path, "w") as f:
        f.write(text)
    return path


def _package_note(entry: Any) -> str:
    if isinstance(entry, dict) and "package" in entry:
        return f" from `{entry['package']}@{entry.get('version', '?')}` ({entry.get('license', '?')})"
    return ""
