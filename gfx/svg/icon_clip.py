"""IconCLIP: a small contrastive image-text model of icons, the evaluator of text -> icon models.

No pretrained CLIP or Inception weights can be downloaded here, so gfx trains its own evaluator on the
icon corpus train split (`models/icon-clip`, `gfx train icon-clip`, see `gfx.recipes.icon_clip`): a
CNN over grayscale renders and a trainable MLP over the frozen MiniLM sentence embedding meet in one
L2-normalized space, trained with CLIP's symmetric InfoNCE loss and a learnable temperature. It gives

- `score(svgs, prompts)`: the cosine of image and text embeddings, in [-1, 1], a CLIP-score stand-in.
  torchmetrics' CLIPScore reports `100 * max(cos, 0)`; the values are not comparable with real CLIP;
- `retrieval_accuracy(images, prompts)`: top-k image->text and text->image retrieval;
- `image_features(images)`: pooled CNN features for a Fréchet distance (`gfx.svg.core.metrics.frechet_distance`).

    model = IconCLIP.from_pretrained(DEFAULT_MODEL_DIR)   # the shipped one
    model.score([svg], ["house, home, building"])      # (1,) float32 cosine

Images enter as SVG text (rendered with `rasterize` at the config's `image_size` on its `background`) or
as uint8 arrays; they are reduced to luminance and inverted, so 1 is ink and 0 is background.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gfx.backbones.text_encoder import TEXT_WIDTH, text_encoder
from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin
from gfx.models import MODELS_DIR, SHIPPED
from gfx.svg.core.render import render, to_rgb

DEFAULT_MODEL_DIR = MODELS_DIR / SHIPPED["icon-clip"]
"""Where the shipped evaluator lives (`gfx.models`)."""

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
        return self.project_text(text_encoder().embed_many(prompts, batch_size))

    @torch.no_grad()
    def project_text(self, text_features: np.ndarray) -> np.ndarray:
        """(N, text_width) MiniLM sentence embeddings (`TextEncoder.embed_many`) -> (N, embed_dim) unit vectors."""
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
