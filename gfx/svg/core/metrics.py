"""SVG quality metrics, as SVG-Bench defines them (docs/papers.md, SVG-Bench metrics).

Images are compared in RGB after compositing on white. MSE is the mean squared error over all
pixels and channels in [0, 1]; SSIM uses scikit-image with a uniform 11x11 window and
`data_range=255`. Plain numpy (scikit-image for SSIM), no torch.
"""

from __future__ import annotations

import numpy as np

from gfx.svg.core.document import SVGError
from gfx.svg.core.render import DEFAULT_SIZE, render, to_rgb


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


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), with the trace of the matrix square root taken as
    the sum of square roots of the eigenvalues of the symmetric PSD matrix S_a^(1/2) S_b S_a^(1/2) (the same
    value, without the complex round-off of a general `sqrtm`). The features come from an injectable extractor
    (e.g. `IconCLIP.image_features`); use sets larger than the feature width for a full-rank covariance.

    Args:
        features_a: (N, D) float features of one image set, N >= 2.
        features_b: (M, D) float features of the other, M >= 2.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"frechet_distance needs two (N>=2, D) feature arrays of equal D; got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False).reshape(a.shape[1], -1), np.cov(b, rowvar=False).reshape(b.shape[1], -1)
    root_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0.0, None)).sum()
    distance = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(distance, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def uniqueness(token_seqs) -> float:
    """IconShop's Uniqueness: % of generated samples that occur exactly once in the generated set.

    Args:
        token_seqs: canonical token sequences (any iterables of hashable tokens), one per sample.

    Returns:
        A percentage in [0, 100].
    """
    keys = [tuple(seq) for seq in token_seqs]
    if not keys:
        raise ValueError("uniqueness needs at least one sequence")
    counts: dict[tuple, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return 100.0 * sum(counts[key] == 1 for key in keys) / len(keys)


def novelty(token_seqs, train_seqs) -> float:
    """IconShop's Novelty: % of generated samples whose token sequence is not in the training set (exact match).

    Args:
        token_seqs: canonical token sequences of the generated samples.
        train_seqs: canonical token sequences of the training set.

    Returns:
        A percentage in [0, 100].
    """
    keys = [tuple(seq) for seq in token_seqs]
    if not keys:
        raise ValueError("novelty needs at least one sequence")
    train = {tuple(seq) for seq in train_seqs}
    return 100.0 * sum(key not in train for key in keys) / len(keys)


# --- shape distance: chamfer between ink pixels -----------------------------------------------------
INK_LEVEL = 0.5
"""A pixel is ink when its darkness (1 - luminance on white) exceeds this."""


def ink_mask(image: np.ndarray, level: float = INK_LEVEL) -> np.ndarray:
    """(H, W) bool ink pixels of an (H, W, 3|4) uint8 image composited on white."""
    gray = to_rgb(np.asarray(image)).astype(np.float32).mean(axis=2) / 255.0
    return (1.0 - gray) > level


class InkChamfer:
    """Symmetric mean chamfer distance in pixels between the ink of one image and each of N references.

    d(A, B) = (mean over A's ink of the distance to B's nearest ink + the same from B to A) / 2.
    The references' distance transforms are computed once, so a query costs two (N, H*W) products.
    An image without ink is `empty_distance` from everything.

    Args:
        masks: (N, H, W) bool reference ink.
        empty_distance: the distance given when either side has no ink (default: the image side).
    """

    def __init__(self, masks: np.ndarray, empty_distance: float | None = None):
        from scipy.ndimage import distance_transform_edt

        masks = np.asarray(masks, dtype=bool)
        n, h, w = masks.shape
        self.shape = (h, w)
        self.empty_distance = float(h if empty_distance is None else empty_distance)
        self.ink = masks.reshape(n, -1).astype(np.float32)
        self.counts = self.ink.sum(axis=1)
        self.transforms = np.stack([self._transform(m, distance_transform_edt) for m in masks]).reshape(n, -1)

    def _transform(self, mask: np.ndarray, edt) -> np.ndarray:
        if not mask.any():
            return np.full(mask.shape, self.empty_distance, np.float32)
        return edt(~mask).astype(np.float32)

    def __len__(self) -> int:
        return len(self.ink)

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        """(N,) float32 distances from one (H, W) bool ink mask to every reference."""
        from scipy.ndimage import distance_transform_edt

        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise ValueError(f"mask is {mask.shape}, the references are {self.shape}")
        flat = mask.reshape(-1)
        if not flat.any():
            return np.full(len(self), self.empty_distance, np.float32)
        to_refs = self.transforms[:, flat].mean(axis=1)
        from_refs = self.ink @ self._transform(mask, distance_transform_edt).reshape(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            from_refs = np.where(self.counts > 0, from_refs / np.maximum(self.counts, 1), self.empty_distance)
        return ((to_refs + from_refs) / 2).astype(np.float32)


def mean_pairwise_chamfer(masks: np.ndarray) -> np.ndarray:
    """(K, H, W) bool ink of K >= 2 images -> (K,) float32 each one's mean `InkChamfer` distance to the others."""
    chamfer = InkChamfer(masks)
    distances = np.stack([chamfer(m) for m in masks])  # (K, K), zero diagonal
    return (distances.sum(axis=1) - np.diag(distances)) / (len(masks) - 1)
