"""An image explained as flat ink colours stacked over a background (`color_layers`).

    layers = color_layers(rgb)    # (H, W, 3) uint8 -> ColorLayers: background, colours, stacked masks

1. Background: the border's median colour. Any flat pixel more than `ink` (0.08, RGB distance in [0, 1])
   from it is ink, so light greys and off-whites (a space suit, a chef's hat) become layers instead of
   vanishing into the backdrop; regions of exactly the background colour stay holes, which render the same.
2. Colours: k-means in RGB over the inked, flat pixels (anti-aliased edges are blends, not colours); k grows while one more colour lowers the image's quantization MSE by at least `min_gain`,
   up to `max_colors`. Shaded artwork thus gets more flat layers than a two-tone logo.
3. Masks: each pixel is a blend of the background and one ink colour, which gives every layer an
   anti-aliased coverage mask. Layers are stacked largest first and each layer's mask also covers the
   layers above it (vtracer's "stacked" mode): shapes need no holes for what is painted over them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColorLayers:
    """An image explained as ink colours over a background.

    Attributes:
        background: (3,) uint8 RGB of the backdrop.
        colors: (K, 3) uint8 RGB ink colours, in paint order (largest layer first).
        masks: (K, H, W) float32 coverage in [0, 1]; mask k covers layer k and every layer above it.
    """

    background: np.ndarray
    colors: np.ndarray
    masks: np.ndarray

    def mask_images(self) -> list[np.ndarray]:
        """Each layer's mask as an (H, W, 3) uint8 image, black ink on white."""
        return [np.repeat(np.rint(255 * (1 - m))[..., None], 3, axis=2).astype(np.uint8) for m in self.masks]

    def pad(self, top: int, left: int, side: int) -> ColorLayers:
        """The layers on a `side` x `side` canvas, this image's top-left corner at (`top`, `left`)."""
        h, w = self.masks.shape[1:]
        masks = np.zeros((len(self.masks), side, side), np.float32)
        masks[:, top : top + h, left : left + w] = self.masks
        return ColorLayers(self.background, self.colors, masks)


def color_layers(rgb: np.ndarray, max_colors: int = 12, min_gain: float = 2e-5, ink: float = 0.08,
                 min_area: float = 0.001, seed: int = 0) -> ColorLayers:
    """Quantize an image into a background and up to `max_colors` stacked ink layers.

    Args:
        rgb: (H, W, 3) uint8.
        max_colors: most ink colours.
        min_gain: one more colour is added while it lowers the quantization MSE (RGB in [0, 1], over the
            whole image) by at least this much.
        ink: a pixel this far (RGB distance in [0, 1]) from the background counts as inked.
        min_area: layers covering less than this share of the image are dropped.
        seed: k-means seed.
    """
    img = rgb.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    background = np.median(border, axis=0)
    diff = img - background  # (H, W, 3)
    distance = np.linalg.norm(diff, axis=-1)
    empty = ColorLayers(_u8(background), np.zeros((0, 3), np.uint8), np.zeros((0, h, w), np.float32))
    min_pixels = max(4, min_area * h * w)
    inked = distance > ink
    if inked.sum() < min_pixels:
        return empty
    flat = _flat(img)
    samples = img[inked & flat] if (inked & flat).sum() >= min_pixels else img[inked]
    centers = _cluster(samples, max_colors, min_gain * h * w * 3 / len(samples), seed)
    # every pixel = background + a (center_j - background), a in [0, 1], for its best-fitting j
    direction = centers - background  # (K, 3)
    alpha = np.clip(np.einsum("hwc,kc->khw", diff, direction) / (direction**2).sum(-1)[:, None, None], 0, 1)
    residual = np.linalg.norm(diff[None] - alpha[..., None] * direction[:, None, None], axis=-1)
    best = residual.argmin(0)
    masks = np.where(best[None] == np.arange(len(centers))[:, None, None], alpha, 0.0)
    masks[masks < 0.05] = 0
    order = [k for k in np.argsort(-masks.sum((1, 2)), kind="stable") if masks[k].sum() >= min_pixels]
    if not order:
        return empty
    masks = masks[order]
    stacked = np.minimum(np.cumsum(masks[::-1], axis=0)[::-1], 1.0)  # a layer also covers those above it
    return ColorLayers(_u8(background), np.stack([_u8(centers[k]) for k in order]), stacked.astype(np.float32))


def _flat(img: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose 3x3 neighbourhood varies by less than 0.1 per channel."""
    h, w = img.shape[:2]
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    shifted = np.stack([pad[i : i + h, j : j + w] for i in range(3) for j in range(3)])
    return (shifted.max(0) - shifted.min(0)).max(-1) < 0.1


def _cluster(samples: np.ndarray, max_colors: int, min_gain: float, seed: int) -> np.ndarray:
    """(K, 3) k-means centres of (N, 3) samples; k grows while the mean squared error drops by `min_gain`."""
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(seed)
    if len(samples) > 4000:
        samples = samples[rng.choice(len(samples), 4000, replace=False)]
    centers = samples.mean(0, keepdims=True)
    error = float(((samples - centers) ** 2).sum(-1).mean())
    for k in range(2, max_colors + 1):
        if error < min_gain:
            break
        more, labels = kmeans2(samples.astype(np.float64), k, minit="++", seed=seed)
        more = more[np.bincount(labels, minlength=k) > 0].astype(np.float32)
        more_error = float(((samples[:, None] - more[None]) ** 2).sum(-1).min(1).mean())
        if error - more_error < min_gain:
            break
        centers, error = more, more_error
    return centers


def _u8(rgb01: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> uint8, near-black and near-white snapped to pure black and white."""
    rgb = np.clip(np.rint(np.asarray(rgb01) * 255), 0, 255).astype(np.uint8)
    if rgb.max() <= 24:
        return np.zeros_like(rgb)
    return np.full_like(rgb, 255) if rgb.min() >= 240 else rgb
