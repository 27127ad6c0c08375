"""Sub-pixel contour tracing of anti-aliased layer masks (colour artwork).

    [doc] = trace_contours([black_on_white])    # (S, S, 3) uint8 -> Document in the 24-unit viewBox

Outline tracers on a thresholded mask (vtracer, potrace) place every edge on the pixel grid. The masks of
`gfx.svg.vectorization.color_layers` are anti-aliased coverages, so the 50% iso-line of a mask
(marching squares, `skimage.measure.find_contours`) lies within a fraction of a pixel of the true edge:
1. each closed iso-line enclosing at least `min_area` of the image becomes a subpath (holes come out with
   the opposite orientation, so the nonzero rule keeps them open);
2. each is fitted by lines and cubics within `tolerance` px (`centerline.fit_chain`, with corners where it
   turns sharply), a final line back to the start left to `Z`. A loose tolerance keeps the SVG small; refinement then pulls the curves onto the image.
"""

from __future__ import annotations

import numpy as np

from gfx.svg.core.document import Document, Path, Style
from gfx.svg.vectorization.centerline import corner_indices, fit_chain

VIEW_UNITS = 24.0


def trace_contours(images: list[np.ndarray], tolerance: float = 2.5, min_area: float = 0.0003) -> list[Document]:
    """Trace black-on-white (S, S, 3) uint8 coverage images along their 50% iso-lines as filled paths.

    Args:
        images: layer masks, black ink on white, anti-aliased (grey = partial coverage).
        tolerance: largest distance, in pixels, between an iso-line and its fitted curve.
        min_area: closed iso-lines enclosing less than this share of the image are dropped (specks).
    """
    return [_trace_one(image, tolerance, min_area) for image in images]


def _trace_one(image: np.ndarray, tolerance: float, min_area: float) -> Document:
    from skimage.measure import find_contours

    coverage = 1.0 - np.asarray(image)[..., :3].mean(-1) / 255.0
    side = coverage.shape[0]
    unit = VIEW_UNITS / side
    commands, coords = "", []
    for line in find_contours(np.pad(coverage, 1), 0.5):  # padded: every iso-line is closed
        points = line[:, ::-1] - 0.5  # (row, col) of the padded array -> (x, y) pixel coordinates
        if len(points) < 4 or _area(points) < min_area * side * side:
            continue
        cmds, xy = fit_chain(points * unit, tolerance * unit, corners=corner_indices(points, span=2, min_turn=60))
        if cmds.endswith("L") and len(cmds) > 2:  # the closing line is what Z draws
            cmds, xy = cmds[:-1], xy[:-2]
        commands += cmds + "Z"
        coords.extend(xy)
    if not commands:
        return Document((0.0, 0.0, VIEW_UNITS, VIEW_UNITS), [])
    path = Path(commands, np.asarray(coords, dtype=np.float64), Style(fill="#000000"))
    return Document((0.0, 0.0, VIEW_UNITS, VIEW_UNITS), [path])


def _area(points: np.ndarray) -> float:
    """Area enclosed by a closed polygon (N, 2) (shoelace)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
