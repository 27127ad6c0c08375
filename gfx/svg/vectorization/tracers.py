"""Classical tracers: black-on-white layer images -> black documents in the 24-unit viewBox (vtracer; potrace
when its GPL binary is on PATH), and vtracer's own colour mode on whole images (a baseline)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile

import numpy as np

from gfx.svg.core.document import Document, SVGError

VIEW_BOX = (0.0, 0.0, 24.0, 24.0)

VTRACER_COMPACT = dict(colormode="binary", mode="polygon", path_precision=1, filter_speckle=0)
"""vtracer's most compact accurate setting (docs/papers.md, classical tracers); ~0.8 KB per icon."""
VTRACER_SPLINE = dict(colormode="binary")
"""vtracer's defaults (spline mode, path_precision=8, filter_speckle=4) in binary colour mode."""
VTRACER_COLOR = dict(colormode="color", mode="polygon")
"""vtracer's colour mode with polygons (its other defaults): the strongest vtracer setting measured on colour
artwork at the image's native resolution (issue 18)."""
VTRACER_COLOR_SPLINE = dict(colormode="color")
"""vtracer's defaults: colour mode, splines."""


def _normalized(svg_text: str, source: str) -> Document:
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg

    return normalize(parse_svg(svg_text, source=source), view_box=VIEW_BOX)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def trace_vtracer(images: list[np.ndarray], **settings) -> list[Document]:
    """Trace black-on-white (S, S, 3) uint8 images with vtracer (`settings` as in `VTRACER_COMPACT`)."""
    from gfx.runtime import optional_import

    vtracer = optional_import("vtracer")
    out = []
    for image in images:
        svg = vtracer.convert_raw_image_to_svg(_png(image), img_format="png", **settings)
        doc = _normalized(svg, "vtracer output")
        out.append(Document(doc.view_box, [e for e in doc.elements if e.style.fill != "#ffffff"]))
    return out


def trace_vtracer_color(images: list[np.ndarray], **settings) -> list[Document]:
    """Trace (H, W, 3) uint8 colour images with vtracer's colour mode (`settings` as in `VTRACER_COLOR`).

    Returns:
        Documents with viewBox `0 0 W H` in the image's pixels, paths in vtracer's (stacked) paint order.
    """
    import vtracer

    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg

    out = []
    for image in images:
        svg = vtracer.convert_raw_image_to_svg(_png(image), img_format="png", **settings)
        h, w = image.shape[:2]
        doc = normalize(parse_svg(svg, source="vtracer output"), view_box=(0.0, 0.0, float(w), float(h)),
                        order="document")
        out.append(doc)
    return out


def trace_potrace(images: list[np.ndarray]) -> list[Document]:
    """Trace black-on-white images with the `potrace` command (GPL, optional; `apt install potrace`)."""
    from PIL import Image

    exe = shutil.which("potrace")
    if exe is None:
        raise SVGError("method 'potrace' needs the potrace binary on PATH (GPL, not a gfx dependency): "
                       "install it (apt install potrace) or use method 'vtracer'")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for image in images:
            bitmap = Image.fromarray(image).convert("L").point(lambda v: 255 if v >= 128 else 0).convert("1")
            bitmap.save(os.path.join(tmp, "in.pbm"))
            subprocess.run([exe, "-s", "-o", os.path.join(tmp, "out.svg"), os.path.join(tmp, "in.pbm")],
                           check=True, capture_output=True, timeout=60)
            with open(os.path.join(tmp, "out.svg")) as f:
                out.append(_normalized(f.read(), "potrace output"))
    return out


