"""Differentiable soft rasterizer: normalized SVG documents rendered in PyTorch.

A `SoftScene` holds a normalized `Document` as tensors (control points, stroke widths, colours,
opacities) that an optimizer may update; `render_batch` draws scenes like cairosvg does, with
gradients to every number; `scene_to_document` writes the result back.

    scene = scene_from_document(normalize(parse_svg(text)))
    scene.points.requires_grad_()
    image = render_scene(scene, 128)  # (128, 128, 3) RGB in [0, 1]
"""

from gfx.svg.vectorization.diffrender.raster import render_batch, render_scene
from gfx.svg.vectorization.diffrender.scene import SoftScene, scene_from_document, scene_to_document

__all__ = ["SoftScene", "render_batch", "render_scene", "scene_from_document", "scene_to_document"]
