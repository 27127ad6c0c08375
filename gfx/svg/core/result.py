"""`SVGResult`: what every SVG pipeline in gfx returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gfx.svg.core.document import Document
from gfx.svg.core.render import DEFAULT_SIZE, render
from gfx.svg.core.serialize import to_svg


@dataclass(frozen=True)
class SVGResult:
    """One generated or vectorized SVG.

    Attributes:
        document: the drawing, normalized (viewBox 0 0 24 24 unless the model says otherwise).
        tokens: the token ids it was decoded from (BOS/EOS included), empty for non-token methods.
        prompt: the text it was generated from, if any.
        info: method-specific facts (seed, guidance, timings, fallbacks used), plain values only.
        size: (width, height) in pixels of the image it depicts (a vectorized image's input), written as
            the SVG's `width`/`height` and giving `render` its aspect ratio; None for a square icon.
        groups: (label, element count) runs of the elements, each written as one named `<g>` (a scene's
            objects, `gfx.svg.scene`); () for none.
    """

    document: Document
    tokens: tuple[int, ...] = ()
    prompt: str | None = None
    info: dict = field(default_factory=dict)
    size: tuple[int, int] | None = None
    groups: tuple[tuple[str, int], ...] = ()

    @property
    def svg(self) -> str:
        """The drawing as compact SVG text."""
        return to_svg(self.document, size=self.size, groups=self.groups)

    def _repr_svg_(self) -> str:
        """The drawing inline in Jupyter and IPython (their rich-display hook)."""
        return self.svg

    def render(self, size: int = DEFAULT_SIZE, background: str | None = "white") -> np.ndarray:
        """(size, size, 4) uint8 RGBA render (cairosvg); with `self.size`, its aspect ratio with long side `size`."""
        if self.size is not None:
            width, height = self.size
            scale = size / max(width, height)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return render(self.document, size=size, background=background)

    def save(self, path) -> None:
        """Write the SVG text to `path` atomically."""
        from gfx.files import write_text

        write_text(path, self.svg)
