"""The `gfx train icon-clip` recipe: train the IconCLIP evaluator on the icon corpus and write its model card.

    gfx train icon-clip                      # models/icon-clip, resumes from .cache/train/icon-clip

The inputs (cairosvg renders of every train and val icon, MiniLM embeddings of every prompt variant) are
computed once and cached in `CACHE_DIR`; the rest of the run (checkpoints, save, card) is `gfx.recipes.run`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gfx.backbones.text_encoder import text_encoder
from gfx.checkpoint import load_weights
from gfx.data.icons import SPLIT_RULE, IconRecord, load_icons, read_manifest
from gfx.files import atomic_open
from gfx.paths import cache_dir
from gfx.recipes.batching import Batches
from gfx.recipes.card import Card, Table
from gfx.recipes.iconshop import ICON_DATASETS
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts
from gfx.svg.core.metrics import frechet_distance
from gfx.svg.icon_clip import (
    IconCLIP,
    IconCLIPConfig,
    ProgressFn,
    rasterize,
    retrieval_metrics,
    to_ink,
)

log = logging.getLogger(__name__)

CACHE_DIR = cache_dir("icon-clip")
"""Rendered rasters and text embeddings of the corpus (gitignored, rebuilt on demand)."""
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
                        augment: bool = True) -> Batches:
    """Training data for `gfx.train.train`: seeded `Batches` of {"ink", "text"}.

    Each epoch shuffles the icons; each batch picks one prompt variant per icon and (with `augment`) shifts
    and zooms the images, from the batch's own seeded generator, so a resumed run sees the same data.

    Args:
        gray: (N, S, S) uint8 luminance renders.
        text: (N, V, 384) float MiniLM embeddings of V prompt variants per icon, or (N, 384).
        batch_size: pairs per batch; the last partial batch of an epoch is dropped.
    """
    text = text[:, None] if text.ndim == 2 else text
    if len(gray) != len(text) or len(gray) < batch_size:
        raise ValueError(f"need >= batch_size ({batch_size}) icons with one text row each; got {len(gray)}, {len(text)}")
    size = gray.shape[-1]

    def collate(index: np.ndarray, rng: np.random.Generator) -> dict[str, Tensor]:
        variant = rng.integers(0, text.shape[1], size=len(index)) if augment else np.zeros(len(index), int)
        ink = to_ink(gray[index], size)
        return {"ink": augment_ink(ink, rng) if augment else ink,
                "text": torch.from_numpy(text[index, variant].astype(np.float32))}

    return Batches(len(gray), batch_size, collate, seed=seed)


# ---------------------------------------------------------------- the recipe


@dataclass
class IconCLIPRecipe(RecipeConfig):
    """The icon-clip schedule; the defaults are models/icon-clip's (one 2,000-step run)."""

    PRESETS = {"tiny": dict(preset="tiny", steps=3, batch_size=8, limit=16)}

    preset: str = "default"
    steps: int = 2000
    batch_size: int = 128  # pairs per step (the InfoNCE negatives are the rest of the batch)
    warmup_steps: int = 100
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    eval_every: int = 250
    eval_batches: int = 0
    checkpoint_every: int = 200
    log_every: int = 50
    eval_limit: int | None = None  # the card's retrieval metrics use the whole val split
    text_variants: int = TEXT_VARIANTS  # prompts per icon, see `prompt_variants`
    limit: int | None = None  # only the first `limit` train and val icons (tests)
    protocol: str | None = None  # "concept-disjoint": without the held-out concepts (a reranker for that protocol)


def splits(config: IconCLIPRecipe) -> tuple[list[IconRecord], list[IconRecord]]:
    """The (train, val) records, the first `limit` of each; under a protocol, without its held-out concepts."""
    from gfx.recipes.icon_protocols import protocol_splits

    train, val = protocol_splits(config.protocol)
    return train[: config.limit], val[: config.limit]


def stages(model: IconCLIP, config: IconCLIPRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """One stage: the image and text towers on cached renders and prompt embeddings of the corpus."""
    c, started = model.config, time.perf_counter()
    train_records, val_records = splits(config)
    gray = corpus_rasters(train_records, c.image_size, c.background, CACHE_DIR, _progress_log())
    variants = prompt_variants(train_records, config.text_variants, config.seed)
    flat = corpus_text_embeddings([p for v in variants for p in v], CACHE_DIR, _progress_log())
    text = flat.reshape(len(train_records), config.text_variants, -1)
    val_gray, val_text = val_inputs(val_records, c)
    facts.update(preset=config.preset, image_size=c.image_size, feature_dim=c.channels[-1],
                 batch_size=config.batch_size, text_variants=config.text_variants, seed=config.seed,
                 threads=torch.get_num_threads(), protocol=config.protocol, train_icons=len(train_records),
                 val_icons=len(val_records),
                 parameters=parameter_count(model), prepare_wall_s=time.perf_counter() - started)
    val_batch = min(config.batch_size, len(val_gray))
    stage = Stage(None, model, contrastive_batches(gray, text, config.batch_size, config.seed),
                  list(contrastive_batches(val_gray, val_text, val_batch, config.seed, augment=False)(0)),
                  config.schedule())
    yield stage
    facts.update(run_facts(stage.result))


def val_inputs(records: Sequence[IconRecord], config: IconCLIPConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cached renders (N, S, S) uint8 and `.text` embeddings (N, 384) float32 of the val icons."""
    return (corpus_rasters(records, config.image_size, config.background, CACHE_DIR),
            corpus_text_embeddings([r.text for r in records], CACHE_DIR))


def evaluate(model: IconCLIP, config: IconCLIPRecipe) -> dict:
    """Val-split `retrieval_metrics`, the FID floor between its halves, and the learned temperature."""
    _, records = splits(config)
    gray, text = val_inputs(records, model.config)
    metrics = retrieval_metrics(model.encode_images(gray), model.project_text(text), [r.text for r in records])
    features = model.image_features(gray)
    metrics["fid_val_halves"] = frechet_distance(features[0::2], features[1::2])  # the floor at this sample size
    scale = model.logit_scale.detach().exp().clamp(max=model.config.max_logit_scale)
    return {**metrics, "temperature": float(1.0 / scale)}


def _progress_log() -> ProgressFn:
    """A `ProgressFn` that logs each label at every tenth of its total."""
    logged: dict[str, int] = {}

    def report(done: int, total: int, label: str) -> None:
        tenth = done * 10 // max(total, 1)
        if logged.get(label) != tenth:
            logged[label] = tenth
            log.info("%s: %d/%d", label, done, total)

    return report


def card(name: str, facts: dict) -> Card:
    """The icon-clip model card from its facts."""
    s, e = facts, facts.get("eval", {})
    machine = s.get("machine", f"{s['threads']} torch threads")
    run = [f"preset `{s['preset']}`: {s['parameters']:,} parameters, stored as float16",
           f"{s['steps']} steps; wall time {s['train_wall_time_s'] / 60:.1f} min training on a 2-core CPU shared with "
           f"other jobs ({machine}); input preparation {s['prepare_wall_s'] / 60:.1f} min (rendering the icons and "
           f"MiniLM-embedding {s['train_icons'] * s['text_variants']:,} training prompts happens once; both are "
           "cached in `.cache/icon-clip/`)",
           f"final train loss {s['train_loss']:.3f}, val loss {s['val_loss']:.3f}"]
    if e:
        run.append(f"learned temperature {e['temperature']:.4f}")
    return Card(
        title=f"{name}: the icon evaluator"
        + (" without the held-out concepts (iconshop-mini's reranker)" if s.get("protocol") else ""),
        summary=f"A small contrastive image-text model of icons (`gfx.svg.icon_clip.IconCLIP`): a CNN over "
        f"{s['image_size']} px\ngrayscale renders and an MLP over the frozen MiniLM (all-MiniLM-L6-v2) sentence "
        "embedding, trained with\nCLIP's symmetric InfoNCE loss. gfx uses it where papers use CLIP and Inception, "
        "whose weights cannot be\ndownloaded here: `score` (a CLIP-score stand-in), `retrieval_accuracy`, and "
        "`image_features` for FID.",
        datasets=ICON_DATASETS,
        tags=("contrastive", "evaluator", "icons", "clip"),
        data=data_text(s),
        run=run,
        metrics=[retrieval_table(e)] if e else [],
        notes=retrieval_notes(e) if e else [],
        use=f"""
from gfx.svg.icon_clip import IconCLIP
model = IconCLIP.from_pretrained("models/{name}")
model.score(svgs, prompts)           # (N,) cosine in [-1, 1]; CLIPScore convention: 100 * max(cos, 0)
model.image_features(svgs)           # (N, {s['feature_dim']}) features for gfx.svg.core.metrics.frechet_distance
""",
    )


def data_text(s: dict) -> str:
    """The card's data paragraph: splits, the corpus's sources with their packages, the augmentations."""
    packages = read_manifest().get("sources", {})
    sources = "; ".join(f"`{name}`{_package_note(entry)}" for name, entry in packages.items())
    return (f"The committed icon corpus (`assets/icons/`: {sources}), train split ({s['train_icons']} icons); "
            f"metrics on the val split ({s['val_icons']} icons). Split rule: {SPLIT_RULE}."
            + (" Every icon of the concepts the concept-disjoint protocol holds out (`gfx.recipes.icon_protocols`) "
               "is left out of both, so the model can rerank samples of those concepts without having seen them."
               if s.get("protocol") == "concept-disjoint" else "")
            + "\n\n"
            f"Prompts: the record's `.text` (name words, tags, category) plus {s['text_variants'] - 1} shuffled keyword "
            "subsets per\nicon; images: small random shifts (up to 4% of the side) and zooms (0.9-1.1).")


def retrieval_table(e: dict) -> Table:
    """Top-k retrieval among all val pairs, both directions, against chance."""
    rows = [[f"top-{k}", f"{e[f'image_to_text_top{k}']:.3f}", f"{e[f'text_to_image_top{k}']:.3f}",
             f"{e[f'chance_top{k}']:.4f}"] for k in (1, 5)]
    return Table(f"Val split, each icon paired with its `.text`, {e['n']} pairs; retrieval among all val pairs "
                 "(identical prompts count as the same item):", ["", "image -> text", "text -> image", "chance"], rows)


def retrieval_notes(e: dict) -> list[str]:
    """The matched/mismatched scores, the FID floor and what the scores are comparable with."""
    return [f"Score (cosine, the value `IconCLIP.score` returns): matched pairs {e['matched_score']:.3f} on average,\n"
            f"mismatched pairs {e['mismatched_score']:.3f}.",
            f"FID on `image_features` (its own scale, not Inception's): {e['fid_val_halves']:.3f} between the even and "
            f"odd\nhalves of the val split, the floor for two samples of {e['n'] // 2} icons from one distribution.",
            "Scores are only comparable between runs of this checkpoint, not with real CLIP numbers. Colour is\n"
            "ignored (luminance only); the model knows only the concepts named in the corpus metadata."]


def _package_note(entry: Any) -> str:
    if isinstance(entry, dict) and "package" in entry:
        return f" from `{entry['package']}@{entry.get('version', '?')}` ({entry.get('license', '?')})"
    return ""


RECIPE = Recipe(
    name="icon-clip",
    model_name="icon-clip",
    config_class=IconCLIPRecipe,
    build=lambda config: IconCLIP(IconCLIPConfig.from_name(config.preset)),
    warm_start=load_weights,
    stages=stages,
    save=lambda model, path: model.save_pretrained(path, dtype=torch.float16),
    load=IconCLIP.from_pretrained,
    evaluate=evaluate,
    card=card,
)
