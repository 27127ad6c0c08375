"""StyleTokenizer (Li et al., ECCV 2024): zero-shot style from one reference image, as words. A style encoder
trained contrastively to see style and not content feeds an MLP that writes `n_tokens` vectors in the text
encoder's word-embedding space; they take the place of placeholder words in front of the prompt. The UNet and text
encoder stay frozen.

    model = StyleTokenizer.from_pretrained("models/style-tokenizer")
    pipe("a large red circle", controls=[Style(model, "reference.png")])   # "<style0> .. <style3> a large ..."

Parts (the official code has inference only; our reading in docs/papers.md):
1. `StyleEncoder`: a small CNN, global pooling -> (F,) style features f_s (the paper: a frozen CLIP image encoder
   with an MLP head; we have no CLIP image weights offline and train the CNN from scratch).
2. Contrastive stage (`EncoderTraining`): a projection head (F -> P, L2-normalised, dropped at inference) and the
   supervised contrastive loss over style labels (`supervised_contrastive_loss`): positives are other images of the
   same style with other content.
3. Token stage (`StyleTokenTraining`): the encoder frozen, the MLP Linear(F, H) -> SiLU -> Linear(H, n D) trains
   with the pipeline's denoising loss on (image, "<style0> .. <style{n-1}> " + its caption without the style
   word, a reference of the same style with other content); the vectors enter through the token-injection hook.
4. Inference (`Style`): the reference's vectors become the placeholders' rows of the embedding table
   (`prepare`, identical to injecting them) and the placeholders go in front of the prompt (`rewrite_prompt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gfx.checkpoint import PretrainedMixin
from gfx.config import ConfigMixin
from gfx.image.codec import latent_codec, read_pixels
from gfx.image.diffusion_loss import denoising_error
from gfx.image.token_injection import add_placeholder_tokens, inject_rows, set_token_embeddings


@dataclass
class StyleTokenizerConfig(ConfigMixin):
    """Architecture and preprocessing of a style tokenizer.

    Attributes:
        image_size: references are resized to this square side.
        channels: widths of the encoder's stride-2 convolutions.
        feature_dim: F, the style features; projection_dim: P, the contrastive head.
        hidden: H, the MLP's hidden width; n_tokens: style words written; token_dim: D, the text encoder's width.
        placeholder: the words are "<{placeholder}0>" .. "<{placeholder}{n-1}>".
        temperature: of the contrastive loss.
    """

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(channels=(8, 16), feature_dim=16, projection_dim=8, hidden=16),
        "mini": dict(),
    }

    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 96)
    feature_dim: int = 128
    projection_dim: int = 64
    hidden: int = 256
    n_tokens: int = 4
    token_dim: int = 64
    placeholder: str = "style"
    temperature: float = 0.1

    def token_names(self) -> list[str]:
        return [f"<{self.placeholder}{k}>" for k in range(self.n_tokens)]


class StyleEncoder(nn.Module):
    """(B, 3, S, S) in [-1, 1] -> (B, F) style features: stride-2 conv blocks, mean and std pooling (texture
    statistics, where style lives), a linear layer."""

    def __init__(self, config: StyleTokenizerConfig):
        super().__init__()
        layers, width = [], 3
        for channels in config.channels:
            layers += [nn.Conv2d(width, channels, 3, stride=2, padding=1), nn.GroupNorm(min(8, channels), channels),
                       nn.SiLU()]
            width = channels
        self.convs = nn.Sequential(*layers)
        self.out = nn.Linear(2 * width, config.feature_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.convs(images).flatten(2)  # (B, C, hw)
        return self.out(torch.cat([maps.mean(-1), maps.std(-1)], 1))  # (B, F)


class StyleTokenizer(nn.Module, PretrainedMixin):
    """Style encoder, contrastive head and the MLP that writes style words."""

    config_class = StyleTokenizerConfig

    def __init__(self, config: StyleTokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = StyleEncoder(config)
        self.head = nn.Linear(config.feature_dim, config.projection_dim)
        self.mlp = nn.Sequential(nn.Linear(config.feature_dim, config.hidden), nn.SiLU(),
                                 nn.Linear(config.hidden, config.n_tokens * config.token_dim))

    def project(self, images: torch.Tensor) -> torch.Tensor:
        """(B, P) unit vectors for the contrastive loss."""
        return F.normalize(self.head(self.encoder(images)), dim=-1)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, n_tokens, D) style words of `images` (B, 3, S, S) in [-1, 1]."""
        return self.mlp(self.encoder(images)).unflatten(1, (self.config.n_tokens, self.config.token_dim))

    def check_pipeline(self, pipe) -> None:
        width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
        if width != self.config.token_dim:
            raise ValueError(f"this style tokenizer writes {self.config.token_dim}-d words but the pipeline's text "
                             f"encoder reads {width}-d; train one for it (token_dim={width})")


def supervised_contrastive_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SupCon (Khosla et al. 2020): for each anchor, -mean log-probability of its positives (same label) among
    all other rows. z: (B, P) unit vectors; labels: (B,) int. Anchors without a positive are skipped."""
    logits = z @ z.T / temperature  # (B, B)
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - logits.logsumexp(1, keepdim=True)
    positives = (labels[:, None] == labels[None]) & ~self_mask
    counts = positives.sum(1)
    if not counts.any():
        raise ValueError("no two rows share a style label; a contrastive batch needs positives")
    per_anchor = -log_prob.masked_fill(~positives, 0).sum(1)[counts > 0] / counts[counts > 0]
    return per_anchor.mean()


class EncoderTraining(nn.Module):
    """The contrastive stage: encoder and head train on {"pixels": (B, 3, S, S), "styles": (B,) int}."""

    def __init__(self, model: StyleTokenizer):
        super().__init__()
        self.model = model
        model.requires_grad_(True)
        model.mlp.requires_grad_(False)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return supervised_contrastive_loss(self.model.project(batch["pixels"]), batch["styles"],
                                           self.model.config.temperature)


class StyleTokenTraining(nn.Module):
    """The token stage: the MLP trains under `pipe`'s denoising loss; the encoder and the pipeline are frozen.

    Batches: {"pixels": (B, 3, S, S) targets, "input_ids": (B, T) prompts starting with the style words,
    "reference": (B, 3, S', S') images of each target's style with other content}.

    Args:
        pipe: any pipeline with `unet`, `text_encoder`, `tokenizer`, `scheduler` (and `vae`); the style words are
            added to its tokenizer.
    """

    def __init__(self, pipe, model: StyleTokenizer):
        super().__init__()
        model.check_pipeline(pipe)
        self.model, self.pipe = model, pipe
        self.ids = add_placeholder_tokens(pipe.tokenizer, pipe.text_encoder, model.config.token_names())
        self.unet, self.text_encoder, self.vae = pipe.unet, pipe.text_encoder, getattr(pipe, "vae", None)
        self.codec, self.scheduler = latent_codec(pipe), pipe.scheduler
        self.freeze()

    def freeze(self) -> None:
        """Everything but the MLP stops training (again after a contrastive stage)."""
        for module in (self.unet, self.text_encoder, self.vae, self.model.encoder, self.model.head):
            if module is not None:
                module.requires_grad_(False)
        self.model.mlp.requires_grad_(True)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            latents = self.codec.encode(batch["pixels"])  # (B, C, h, w)
            features = self.model.encoder(batch["reference"])  # (B, F)
        words = self.model.mlp(features).unflatten(1, (self.model.config.n_tokens, -1))  # (B, n, D)
        with inject_rows(self.text_encoder, self.ids, words):
            states = self.text_encoder(batch["input_ids"])[0]  # (B, T, D)
        return denoising_error(self.unet, self.scheduler, latents, states).mean()


def styled_prompt(config: StyleTokenizerConfig, prompt: str) -> str:
    """"<style0> .. <style{n-1}> " + prompt."""
    return " ".join([*config.token_names(), prompt]).strip()


class Style:
    """A control: draw in the style of a reference image.

    Args:
        source: a `StyleTokenizer` or its directory (`gfx train style-tokenizer`).
        reference: an image file or an (H, W, 3) uint8 array.
    """

    def __init__(self, source: str | Path | StyleTokenizer, reference):
        self.model = source if isinstance(source, StyleTokenizer) else load_style_tokenizer(source)
        pixels = read_pixels([reference], self.model.config.image_size)
        with torch.no_grad():
            self.words = self.model.tokens(pixels)[0]  # (n, D)

    def prepare(self, pipe) -> None:
        self.model.check_pipeline(pipe)
        set_token_embeddings(pipe.tokenizer, pipe.text_encoder, dict(zip(self.model.config.token_names(),
                                                                         self.words, strict=True)))

    def rewrite_prompt(self, prompt: str) -> str:
        return styled_prompt(self.model.config, prompt)


def load_style_tokenizer(directory: str | Path) -> StyleTokenizer:
    """The style tokenizer saved in `directory`, with a short error when there is none."""
    if not (Path(directory) / "config.json").is_file():
        raise FileNotFoundError(f"{directory} holds no style tokenizer (config.json + model.safetensors); train one "
                                "with `gfx train style-tokenizer --init-from DIR`")
    return StyleTokenizer.from_pretrained(directory)
