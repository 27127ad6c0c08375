"""IconCLIP: a small contrastive image-text model of icons, the evaluator of text -> icon models.

No pretrained CLIP or Inception weights can be downloaded here, so gfx trains its own evaluator on the
icon corpus train split (`models/icon-clip`, recipe `train_icon_clip`, CLI `gfx train icon-clip`): a
CNN over grayscale renders and a trainable MLP over the frozen MiniLM sentence embedding meet in one
L2-normalized space, trained with CLIP's symmetric InfoNCE loss and a learnable temperature. It gives

- `score(svgs, prompts)`: the cosine of image and text embeddings, in [-1, 1], a CLIP-score stand-in.
  torchmetrics' CLIPScore reports `100 * max(cos, 0)`; the values are not comparable with real CLIP;
- `retrieval_accuracy(images, prompts)`: top-k image->text and text->image retrieval;
- `image_features(images)`: pooled CNN features for a Fréchet distance (`gfx.svg.metrics.frechet_distance`).

    model = IconCLIP.from_pretrained("models/icon-clip")
    model.score([svg], ["house, home, building"])      # (1,) float32 cosine

Images enter as SVG text (rendered with `rasterize` at the config's `image_size` on its `background`) or
as uint8 arrays; they are reduced to luminance and inverted, so 1 is ink and 0 is background.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.text_encoder import TEXT_WIDTH, text_encoder
from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin
from gfx.data.icons import REPO_ROOT, SPLIT_RULE, IconRecord, load_icons, read_manifest
from gfx.files import atomic_open
from gfx.runtime import seed_everything
from gfx.svg.metrics import frechet_distance
from gfx.svg.render import render, to_rgb
from gfx.train import Progress, TrainConfig, train

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "icon-clip"
"""Where the shipped evaluator lives."""
CACHE_DIR = REPO_ROOT / ".cache" / "icon-clip"
"""Rendered rasters and text embeddings of the corpus (gitignored, rebuilt on demand)."""
RUNS_DIR = REPO_ROOT / "runs"
"""Training checkpoints (with optimizer state) for resuming; gitignored."""
DEFAULT_STEPS = 2000
BATCH_SIZE = 128
TEXT_VARIANTS = 3
"""Prompts per training icon: its `.text`, then shuffled keyword subsets (`augment_prompt`)."""

ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, label), as `gfx.data.icons` reports it."""
ImageInput = Sequence[str] | Sequence[np.ndarray] | np.ndarray
"""SVG texts, or uint8 images (N, H, W) gray / (N, H, W, 3|4) RGB(A), as an array or a list."""


@dataclass
class IconCLIPConfig(ConfigMixin):
    """Architecture and preprocessing of an IconCLIP model (saved as config.json with the weights)."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(image_size=32, channels=(8, 16), blocks_per_stage=0, embed_dim=16, text_hidden=32),
        "default": {},
    }
    image_size: int = 64  # renders are image_size px a side
    background: str = "white"  # CSS colour SVGs are rendered on; luminance is inverted to ink
    channels: tuple[int, ...] = (16, 32, 64, 128)  # CNN stage widths; each stage halves the side
    blocks_per_stage: int = 1  # residual blocks after each stage's strided conv
    embed_dim: int = 128  # the shared image-text space
    text_width: int = TEXT_WIDTH  # MiniLM sentence embedding width
    text_hidden: int = 512  # hidden width of the text projection MLP
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0  # 1 / temperature is clamped to this


def _norm(width: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, width), width)


class ResidualBlock(nn.Module):
    """x + norm(conv(gelu(norm(conv(x))))), then GELU; keeps (B, C, H, W)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), _norm(width), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), _norm(width),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x + self.body(x))


class ImageEncoder(nn.Module):
    """Strided conv stages with residual blocks, mean-pooled: (B, 1, S, S) ink -> (B, channels[-1])."""

    def __init__(self, config: IconCLIPConfig):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = 1
        for width in config.channels:
            layers += [nn.Conv2d(width_in, width, 3, stride=2, padding=1, bias=False), _norm(width), nn.GELU()]
            layers += [ResidualBlock(width) for _ in range(config.blocks_per_stage)]
            width_in = width
        self.stages = nn.Sequential(*layers)

    def forward(self, ink: Tensor) -> Tensor:
        return self.stages(ink).mean(dim=(2, 3))  # (B, C, S / 2^k, S / 2^k) -> (B, C)


class IconCLIP(nn.Module, PretrainedMixin):
    """Image encoder + text projection into one normalized space, with a learnable temperature.

    The MiniLM text encoder is frozen and not part of the saved weights; batches for `loss` carry its
    pooled embeddings.
    """

    config_class = IconCLIPConfig

    def __init__(self, config: IconCLIPConfig):
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.image_projection = nn.Linear(config.channels[-1], config.embed_dim)
        self.text_projection = nn.Sequential(
            nn.Linear(config.text_width, config.text_hidden), nn.GELU(), nn.Linear(config.text_hidden, config.embed_dim)
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.init_temperature)))

    # ------------------------------------------------------------ tensors in, tensors out

    def embed_ink(self, ink: Tensor) -> Tensor:
        """(B, 1, S, S) float ink in [0, 1] -> (B, embed_dim) unit vectors."""
        return F.normalize(self.image_projection(self.image_encoder(ink)), dim=-1)

    def embed_text_features(self, text: Tensor) -> Tensor:
        """(B, text_width) MiniLM sentence embeddings -> (B, embed_dim) unit vectors."""
        return F.normalize(self.text_projection(text), dim=-1)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Symmetric InfoNCE over a batch of matched pairs.

        Args:
            batch: "ink" (B, 1, S, S) float in [0, 1]; "text" (B, text_width) float MiniLM embeddings.
        """
        image = self.embed_ink(batch["ink"])  # (B, D)
        text = self.embed_text_features(batch["text"])  # (B, D)
        scale = self.logit_scale.exp().clamp(max=self.config.max_logit_scale)
        logits = scale * image @ text.T  # (B, B): row i = image i against every text
        labels = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

    # ------------------------------------------------------------ public API on SVGs, images, prompts

    @property
    def _device(self) -> torch.device:
        return self.logit_scale.device

    @torch.no_grad()
    def _map_images(self, images: ImageInput, fn: Callable[[Tensor], Tensor], batch_size: int) -> np.ndarray:
        if len(images) == 0:
            raise ValueError("no images to encode; pass at least one SVG or image")
        gray = self.preprocess(images)
        out = [fn(to_ink(gray[i : i + batch_size], self.config.image_size).to(self._device)).float().cpu()
               for i in range(0, len(gray), batch_size)]
        return torch.cat(out).numpy()

    def preprocess(self, images: ImageInput) -> np.ndarray:
        """SVG texts or images -> (N, H, W) uint8 luminance; SVGs are rendered per the config."""
        if len(images) and isinstance(images[0], str | bytes):
            return rasterize(images, self.config.image_size, self.config.background)
        return luminance(images)

    def encode_images(self, images: ImageInput, batch_size: int = 256) -> np.ndarray:
        """Image embeddings. Returns (N, embed_dim) float32 unit vectors."""
        return self._map_images(images, self.embed_ink, batch_size)

    def image_features(self, images: ImageInput, batch_size: int = 256) -> np.ndarray:
        """Pooled CNN features (before the projection), for FID. Returns (N, channels[-1]) float32."""
        return self._map_images(images, self.image_encoder, batch_size)

    def encode_texts(self, prompts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Text embeddings of prompts. Returns (N, embed_dim) float32 unit vectors."""
        return self.project_text(embed_prompts(list(prompts), batch_size))

    @torch.no_grad()
    def project_text(self, text_features: np.ndarray) -> np.ndarray:
        """(N, text_width) MiniLM sentence embeddings (`embed_prompts`) -> (N, embed_dim) float32 unit vectors."""
        text = torch.from_numpy(np.asarray(text_features, np.float32)).to(self._device)
        return self.embed_text_features(text).float().cpu().numpy()

    def score(self, images: ImageInput, prompts: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each image with its own prompt: (N,) float32 in [-1, 1].

        A CLIP-score stand-in: matched corpus pairs score higher than mismatched ones (the model
        card gives both means). `100 * max(score, 0)` is the torchmetrics CLIPScore convention.
        """
        if len(images) != len(prompts):
            raise ValueError(f"score needs one prompt per image; got {len(images)} images, {len(prompts)} prompts")
        return np.sum(self.encode_images(images) * self.encode_texts(prompts), axis=1)

    def retrieval_accuracy(self, images: ImageInput, prompts: Sequence[str], ks: Sequence[int] = (1, 5)) -> dict:
        """Top-k retrieval among the given pairs, both directions (see `retrieval_metrics`)."""
        return retrieval_metrics(self.encode_images(images), self.encode_texts(prompts), prompts, ks)


# ---------------------------------------------------------------- preprocessing


def luminance(images: ImageInput) -> np.ndarray:
    """Images as (N, H, W) uint8 luminance (Rec. 601); RGBA is composited on white first.

    Args:
        images: (N, H, W) gray, or (N, H, W, 3|4) RGB(A) uint8, as one array or a list of equal-size images.
    """
    array = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {array.dtype}; render SVGs or pass 0..255 pixels")
    if array.ndim == 3:
        return array
    if array.ndim != 4 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected (N, H, W) or (N, H, W, 3|4) images, got shape {array.shape}")
    rgb = np.stack([to_rgb(image) for image in array]) if array.shape[-1] == 4 else array
    return np.rint(rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)


def rasterize(svgs: Sequence[str], size: int, background: str = "white",
              progress: ProgressFn | None = None) -> np.ndarray:
    """Render SVGs with cairosvg and reduce them to luminance: (N, size, size) uint8."""
    out = np.empty((len(svgs), size, size), np.uint8)
    for i, svg in enumerate(svgs):
        out[i] = luminance(render(svg, size, background)[None])[0]
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == len(svgs)):
            progress(i + 1, len(svgs), "render")
    return out


def to_ink(gray: np.ndarray, size: int) -> Tensor:
    """(N, H, W) uint8 luminance -> (N, 1, size, size) float32 ink (1 - gray / 255), area-resized if needed."""
    ink = 1.0 - torch.from_numpy(np.ascontiguousarray(gray)).float()[:, None] / 255.0
    if ink.shape[-1] != size or ink.shape[-2] != size:
        ink = F.interpolate(ink, size=(size, size), mode="area" if ink.shape[-1] > size else "bilinear")
    return ink


@contextlib.contextmanager
def _quiet_truncation() -> Iterator[None]:
    """Silence the text encoder's per-batch truncation warning during bulk embedding."""
    logger = logging.getLogger("gfx.backbones.text_encoder")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def embed_prompts(prompts: list[str], batch_size: int = 64, progress: ProgressFn | None = None) -> np.ndarray:
    """MiniLM sentence embeddings of many prompts, batched by length: (N, 384) float32.

    Prompts over the encoder's token limit are truncated (one log line in all, not one per batch).
    """
    encoder = text_encoder()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = np.zeros((len(prompts), TEXT_WIDTH), np.float32)
    long = sum(len(p.split()) > encoder.max_tokens // 2 for p in prompts)
    if long:
        log.info("embedding %d prompts; %d long ones may be truncated to %d tokens", len(prompts), long,
                 encoder.max_tokens)
    with _quiet_truncation():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            out[index] = encoder.embed([prompts[i] for i in index]).cpu().numpy()
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order), "embed prompts")
    return out


# ---------------------------------------------------------------- metrics


def retrieval_metrics(image_embeddings: np.ndarray, text_embeddings: np.ndarray,
                      prompts: Sequence[str] | None = None, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k retrieval accuracy in both directions, with chance levels and mean matched/mismatched scores.

    Pair i is (image i, text i). Image->text at k: the fraction of images whose own text is among the
    k most similar texts; text->image likewise. Identical prompts cannot be told apart, so when
    `prompts` is given a retrieved item counts as correct when its prompt equals the query's.

    Args:
        image_embeddings: (N, D) unit vectors.
        text_embeddings: (N, D) unit vectors.
        prompts: the N prompts, to merge identical ones; None: every pair is its own class.
        ks: the k values.

    Returns:
        {"image_to_text_top{k}", "text_to_image_top{k}", "chance_top{k}" (k / N), "matched_score" (mean
        cosine of pairs), "mismatched_score" (mean cosine over pairs with different prompts), "n"}.
    """
    n = len(image_embeddings)
    if n != len(text_embeddings) or n < 2:
        raise ValueError(f"need as many images as texts, at least 2; got {n} and {len(text_embeddings)}")
    labels = np.arange(n) if prompts is None else np.unique(np.asarray(prompts, dtype=object), return_inverse=True)[1]
    sim = image_embeddings.astype(np.float64) @ text_embeddings.astype(np.float64).T  # (N images, N texts)
    same = labels[:, None] == labels[None, :]
    result: dict[str, float] = {}
    for k in ks:
        top_texts = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # (N, k) per image
        top_images = np.argsort(-sim, axis=0, kind="stable")[:k].T  # (N, k) per text
        result[f"image_to_text_top{k}"] = float(np.mean((labels[top_texts] == labels[:, None]).any(axis=1)))
        result[f"text_to_image_top{k}"] = float(np.mean((labels[top_images] == labels[:, None]).any(axis=1)))
        result[f"chance_top{k}"] = min(k / n, 1.0)
    result["matched_score"] = float(np.mean(np.diag(sim)))
    result["mismatched_score"] = float(sim[~same].mean()) if (~same).any() else float("nan")
    result["n"] = n
    return result


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
    """`embed_prompts`, cached as float16 in a .npz keyed by the prompt list: (N, 384) float32."""
    path = Path(cache_dir) / f"text-{_cache_key(*prompts)}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        return np.load(path)["text"].astype(np.float32)
    text = embed_prompts(prompts, progress=progress).astype(np.float16)
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
                    progress: Callable[[Progress], None] | None = None, *, preset: str = "default", batch_size: int = BATCH_SIZE,
                    text_variants: int = TEXT_VARIANTS, seed: int = 0, limit: int | None = None,
                    run_dir: str | Path | None = None, cache_dir: Path | None = CACHE_DIR) -> dict[str, Any]:
    """Train the icon evaluator on the corpus train split, evaluate it on val, save it with a model card.

    The whole run is a function of the committed corpus and `seed`. Checkpoints (with optimizer state)
    go to `run_dir` (default runs/<name of out_dir>) every 200 steps; `resume=True` continues from there.
    The final weights are stored as float16 in `out_dir` with config.json, README.md (the model card)
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

    gfx train icon-clip            # = gfx.svg.icon_clip.train_icon_clip(); add --resume to continue

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
    model.image_features(svgs)           # (N, {s['feature_dim']}) features for gfx.svg.metrics.frechet_distance

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
