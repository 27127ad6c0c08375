"""Latent codecs: the space a denoiser works in, and the way back to pixels.

A real Stable Diffusion pipeline has a VAE; gfx's small models denoise pixel-unshuffled images instead (a
lossless rearrangement, (B, 3, H, W) -> (B, 3 f^2, H / f, W / f), so there is no autoencoder to train). Both are
reached through one interface, so every control works on either pipeline:

    codec = latent_codec(pipe)               # PixelUnshuffleCodec or VAECodec
    latents = codec.encode(images)           # images: (B, 3, H, W) in [-1, 1]
    images = codec.decode(latents)
    codec.latent_shape(64, 64)               # (C, h, w)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PixelUnshuffleCodec:
    """Pixels folded into channels: factor f turns (3, H, W) into (3 f^2, H / f, W / f)."""

    factor: int

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        if height % self.factor or width % self.factor:
            raise ValueError(f"image size {height}x{width} is not a multiple of the unshuffle factor {self.factor}")
        return 3 * self.factor**2, height // self.factor, width // self.factor

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(images, self.factor)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(latents, self.factor)


@dataclass(frozen=True)
class VAECodec:
    """A diffusers `AutoencoderKL`, with its scaling factor applied both ways."""

    vae: torch.nn.Module

    @property
    def factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return self.vae.config.latent_channels, height // self.factor, width // self.factor

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(images).latent_dist.mode() * self.vae.config.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents / self.vae.config.scaling_factor).sample


def latent_codec(pipe) -> PixelUnshuffleCodec | VAECodec:
    """The codec of a pipeline: its VAE when it has one, else its `unshuffle` factor."""
    vae = getattr(pipe, "vae", None)
    if vae is not None:
        return VAECodec(vae)
    factor = getattr(pipe.config, "unshuffle", None)
    if factor is None:
        raise ValueError(f"{type(pipe).__name__} has neither a vae nor an unshuffle factor in its config")
    return PixelUnshuffleCodec(int(factor))


def from_uint8(images) -> torch.Tensor:
    """(B, H, W, 3) uint8 (an array or a list of (H, W, 3)) -> (B, 3, H, W) float32 in [-1, 1]."""
    import numpy as np

    return torch.from_numpy(np.stack(list(images))).permute(0, 3, 1, 2).float() / 127.5 - 1


def read_pixels(sources, size: int) -> torch.Tensor:
    """(N, 3, size, size) in [-1, 1] from image files, their bytes or (H, W, 3|4) uint8 arrays, RGB, resized to a
    square.

    Raises ValueError naming the first source that is missing or not an image."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    sources = list(sources)
    if not sources:
        raise ValueError("no images given; pass at least one image file")
    images = []
    for source in sources:
        named = isinstance(source, (str, os.PathLike))
        try:
            if named or isinstance(source, bytes):
                image = Image.open(source if named else io.BytesIO(source))
            else:
                image = Image.fromarray(np.asarray(source, np.uint8)[..., :3])
            image = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        except (OSError, UnidentifiedImageError, TypeError, ValueError) as error:
            raise ValueError(f"cannot read image {source if named else type(source).__name__}: "
                             f"{type(error).__name__}; give PNG/JPEG files or (H, W, 3) uint8 arrays") from None
        images.append(np.asarray(image, np.uint8))
    return from_uint8(images)


def to_uint8(images: torch.Tensor) -> list:
    """(B, 3, H, W) in [-1, 1] -> list of (H, W, 3) uint8 numpy arrays."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return list(pixels.permute(0, 2, 3, 1).cpu().numpy())
