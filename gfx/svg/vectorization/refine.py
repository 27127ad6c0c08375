"""Differentiable refinement of an SVG against a raster target (LIVE / DiffVG style, soft rasterizer).

    doc = refine(document, target_rgb, steps=150)

Steps of `refine`:
1. the document becomes a `SoftScene`; its control points, stroke widths and (for colour documents)
   colours are optimised with Adam;
2. loss: pixel MSE plus MSE of 2x and 4x average-pooled images (a multi-scale term whose gradients
   reach shapes that are off by more than a few pixels);
3. coarse to fine: the rasterizer's `filter_width` falls from `filter_start` px to 1 px over the first
   `coarse_share` of the steps (blurred edges pull from further away), then stays at 1 (cairosvg's
   anti-aliasing);
4. the best iterate at filter 1 is kept, and never one worse than the input;
5. optional pruning: paths whose removal raises the pixel MSE by less than `prune_tolerance` are
   dropped, one at a time, smallest harm first;
6. coordinates are rounded to `decimals` (compact SVG text).
The structure (paths, commands, paints, caps) never changes, so strokes stay strokes and the result
stays editable.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from gfx.svg.core.document import Document, Path

log = logging.getLogger(__name__)


def refine(
    document: Document,
    target: np.ndarray,
    *,
    steps: int = 150,
    size: int = 128,
    lr: float = 0.04,
    width_lr: float = 0.02,
    color_lr: float = 0.01,
    colors: bool | None = None,
    scales: tuple[int, ...] = (1, 2, 4),
    filter_start: float = 3.0,
    coarse_share: float = 0.5,
    prune: bool = True,
    prune_tolerance: float = 1e-4,
    decimals: int | None = 1,
) -> Document:
    """Optimise a normalized document's geometry (and colours) to look like `target`.

    Args:
        document: normalized (M/L/C/Z paths); its viewBox is fitted to the square target.
        target: (H, W, 3|4) uint8 image (square; RGBA is composited on white), resized to `size`.
        steps: Adam steps.
        size: render side in pixels.
        lr: point learning rate, viewBox units per step.
        width_lr: stroke-width learning rate, viewBox units per step.
        color_lr: colour learning rate (RGB in [0, 1]).
        colors: optimise colours; None: only when the document paints more than one colour.
        scales: average-pooling factors of the multi-scale loss (1 = the pixel loss).
        filter_start: rasterizer filter width (px) at the first step.
        coarse_share: share of the steps over which the filter falls to 1 px.
        prune: drop paths that do not help.
        prune_tolerance: largest pixel-MSE increase a pruned path may cause.
        decimals: coordinates and widths are rounded to this many decimals (None: not rounded).

    Returns:
        A new normalized `Document` with the same viewBox.
    """
    from gfx.svg.vectorization.diffrender import render_scene, scene_from_document, scene_to_document

    if not document.elements:
        return document
    goal = _target_tensor(target, size)
    if colors is None:
        colors = len({p.style.fill for p in document.paths} | {p.style.stroke for p in document.paths} - {None}) > 1
    scene = scene_from_document(document)
    stroked = torch.tensor([s.stroke is not None for s in scene.styles])
    params = [{"params": [scene.points], "lr": lr}]
    if stroked.any():
        params.append({"params": [scene.stroke_width], "lr": width_lr})
    if colors:
        params.append({"params": [scene.fill_color, scene.stroke_color], "lr": color_lr})
    for group in params:
        for t in group["params"]:
            t.requires_grad_(True)
    optimizer = torch.optim.Adam(params)
    with torch.no_grad():
        best_loss = _pixel_mse(render_scene(scene, size), goal)
        best = scene.detach()
    start_loss, previous = best_loss, best
    coarse_steps = max(1, int(coarse_share * steps))
    for step in range(steps):
        fw = 1.0 + (filter_start - 1.0) * max(0.0, 1.0 - step / coarse_steps)
        image = render_scene(scene, size, filter_width=fw)
        loss = _multiscale_mse(image, goal, scales)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            scene.stroke_width.clamp_(min=0.1)
            scene.fill_color.clamp_(0, 1)
            scene.stroke_color.clamp_(0, 1)
            if fw == 1.0:  # the image was rendered before this step's update: it scores the previous iterate
                pixel = _pixel_mse(image, goal)
                if pixel < best_loss:
                    best_loss, best = pixel, previous
            previous = scene.detach()
    with torch.no_grad():
        final = _pixel_mse(render_scene(scene, size), goal)
    if final < best_loss:
        best_loss, best = final, scene.detach()
    log.debug("refine: pixel MSE %.5f -> %.5f in %d steps", start_loss, best_loss, steps)
    result = scene_to_document(best)
    if prune and len(result.elements) > 1:
        result = prune_paths(result, goal, prune_tolerance)
    return result if decimals is None else round_document(result, decimals)


def prune_paths(document: Document, goal: torch.Tensor, tolerance: float) -> Document:
    """Drop paths, smallest harm first, while each removal raises the pixel MSE by less than `tolerance`.

    Args:
        document: normalized.
        goal: (S, S, 3) float target in [0, 1].
        tolerance: largest MSE increase one removal may cause.
    """
    from gfx.svg.vectorization.diffrender import render_batch, scene_from_document

    size = goal.shape[0]
    elements = list(document.elements)
    with torch.no_grad():
        base = _pixel_mse(render_batch([scene_from_document(document)], size)[0], goal)
        without = [Document(document.view_box, elements[:i] + elements[i + 1 :]) for i in range(len(elements))]
        harms = [_pixel_mse(img, goal) - base for img in render_batch([scene_from_document(d) for d in without], size)]
        keep = list(range(len(elements)))
        for i in np.argsort(harms):
            if harms[i] >= tolerance or len(keep) == 1:
                break
            trial = [k for k in keep if k != i]
            loss = _pixel_mse(render_batch([scene_from_document(Document(document.view_box,
                                                                         [elements[k] for k in trial]))], size)[0], goal)
            if loss - base < tolerance:
                keep = trial
    return Document(document.view_box, [elements[k] for k in keep])


def round_document(document: Document, decimals: int) -> Document:
    """A copy with coordinates and stroke widths rounded to `decimals` (shorter SVG text)."""
    out = []
    for p in document.paths:
        style = p.style.replace(stroke_width=round(float(p.style.stroke_width), decimals))
        out.append(Path(p.commands, np.round(p.coords, decimals), style))
    return Document(document.view_box, out)


def _target_tensor(target: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3|4) uint8 -> (size, size, 3) float32 in [0, 1] on white."""
    from PIL import Image

    from gfx.svg.core.render import to_rgb

    rgb = to_rgb(np.asarray(target))
    if rgb.shape[:2] != (size, size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.LANCZOS))
    return torch.from_numpy(rgb.astype(np.float32) / 255.0)


def _pixel_mse(image: torch.Tensor, goal: torch.Tensor) -> float:
    return float(((image - goal) ** 2).mean())


def _multiscale_mse(image: torch.Tensor, goal: torch.Tensor, scales: tuple[int, ...]) -> torch.Tensor:
    """Sum over `scales` of the MSE between `s`x average-pooled images; image, goal (S, S, 3)."""
    a, b = image.permute(2, 0, 1)[None], goal.permute(2, 0, 1)[None]
    return sum(F.mse_loss(F.avg_pool2d(a, s), F.avg_pool2d(b, s)) if s > 1 else F.mse_loss(a, b) for s in scales)
