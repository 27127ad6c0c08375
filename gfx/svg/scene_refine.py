"""Joint refinement of a composed scene with the soft rasterizer: SVGCraft's opacity modulation for overlaps.

Where objects overlap, the one in front (drawn later) should read clearly. The target is the objects drawn
alone, composed back to front with each object hiding what lies behind it inside its box; the opacities of the
paths behind are optimised (Adam on logits) so the soft render of the scene matches that target, and paths that
fade below `drop_below` are dropped (SVGCraft's `force_sparse` drops strokes the same way). Geometry, colours
and the coherent stroke width are left alone, and objects that overlap nothing are not touched.

    opacities = modulate_opacity(objects, boxes, canvas=96.0, steps=30)   # one (n_k,) array per object
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gfx.data.scene_layouts import intersection
from gfx.svg.core.document import Document
from gfx.svg.core.normalize import normalize
from gfx.svg.vectorization.diffrender.raster import render_batch, render_scene
from gfx.svg.vectorization.diffrender.scene import scene_from_document


def modulate_opacity(objects: Sequence[Document], boxes: np.ndarray, *, steps: int = 30, size: int = 96,
                     lr: float = 0.3) -> list[np.ndarray]:
    """Per-element opacity of every object after the refinement.

    Args:
        objects: each object's drawing in scene coordinates (one viewBox, the scene's), in paint order.
        boxes: (K, 4) each object's box (x0, y0, x1, y1), scene units.
        steps: Adam steps (0: all ones).
        size: render side in pixels.
        lr: step size on the opacity logits.

    Returns:
        One (n_k,) float array per object, in [0, 1]; 0 means drop the element.
    """
    counts = [len(o.elements) for o in objects]
    ones = [np.ones(n) for n in counts]
    behind = [k for k in range(len(objects)) if any(intersection(boxes[k], boxes[j]) > 0
                                                     for j in range(k + 1, len(objects)))]
    if steps <= 0 or not behind or not sum(counts):
        return ones
    view_box = objects[0].view_box
    docs = [normalize(o, view_box=None, drop_invisible=False, order="document") for o in objects]
    if [len(d.elements) for d in docs] != counts:
        return ones  # normalization split an element; keep the scene as drawn
    scene = scene_from_document(Document(view_box, [e for d in docs for e in d.elements]))
    with torch.no_grad():
        alone = render_batch([scene_from_document(d) for d in docs if d.elements], size)
    target = _occluded_target(alone, [b for b, d in zip(boxes, docs, strict=True) if d.elements], view_box, size)
    owner = np.repeat(np.arange(len(objects)), counts)
    free = torch.from_numpy(np.isin(owner, behind))  # only paths of objects with something in front of them
    logits = torch.full((len(owner),), 4.0, requires_grad=True)
    base = scene.opacity.clone()
    optimizer = torch.optim.Adam([logits], lr=lr)
    for _ in range(steps):
        scene.opacity = torch.where(free, base * torch.sigmoid(logits), base)
        loss = torch.nn.functional.mse_loss(render_scene(scene, size), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    alpha = torch.where(free, torch.sigmoid(logits), torch.ones_like(logits)).detach().numpy()
    return [alpha[owner == k] for k in range(len(objects))]


def _occluded_target(alone: torch.Tensor, boxes, view_box, size: int) -> torch.Tensor:
    """(size, size, 3): the objects' renders (K, size, size, 3) composed in order, each replacing what lies under
    its box."""
    scale = size / max(view_box[2], view_box[3])
    target = torch.ones(size, size, 3)
    for image, box in zip(alone, boxes, strict=True):
        x0, y0, x1, y1 = (int(round((v - o) * scale)) for v, o in zip(box, view_box[:2] * 2, strict=True))
        inside = torch.zeros(size, size, 1)
        inside[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1
        ink = image.min(-1, keepdim=True).values < 0.999
        target = torch.where(inside.bool(), image, torch.where(ink, torch.minimum(target, image), target))
    return target
