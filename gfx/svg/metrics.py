"""SVG quality metrics, as SVG-Bench defines them (research/svg_anchors.md sec. 4).

Images are compared in RGB after compositing on white. MSE is the mean squared error over all
pixels and channels in [0, 1]; SSIM uses scikit-image with a uniform 11x11 window and
`data_range=255`. Plain numpy (scikit-image for SSIM), no torch.
"""

from __future__ import annotations

import numpy as np

from gfx.svg.document import SVGError
from gfx.svg.render import DEFAULT_SIZE, render, to_rgb


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two images in [0, 1] RGB.

    Args:
        a, b: (H, W, 3|4) uint8 images of equal size; RGBA is composited on white first.
    """
    a, b = _pair(a, b)
    return float(np.mean((a.astype(np.float64) / 255.0 - b.astype(np.float64) / 255.0) ** 2))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (uniform 11x11 window, data_range 255, averaged over RGB).

    Args:
        a, b: (H, W, 3|4) uint8 images of equal size, at least 11 px a side.
    """
    from skimage.metrics import structural_similarity

    a, b = _pair(a, b)
    return float(structural_similarity(a, b, channel_axis=-1, win_size=11, data_range=255))


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = to_rgb(np.asarray(a)), to_rgb(np.asarray(b))
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}; render both at the same size")
    return a, b


def is_valid_svg(svg: str | bytes) -> bool:
    """True when `svg` parses safely and cairosvg renders it (StarVector's 'compiles' check)."""
    try:
        render(svg, size=16)
    except SVGError:
        return False
    return True


def compare(reference: str | bytes, candidate: str | bytes, size: int = DEFAULT_SIZE) -> dict[str, float]:
    """Render two SVGs at `size` px on white and return {"mse", "ssim"}."""
    ref, cand = render(reference, size), render(candidate, size)
    return {"mse": mse(ref, cand), "ssim": ssim(ref, cand)}
