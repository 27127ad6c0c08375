"""What text -> image returns: one picture with how it was made."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ImageResult:
    """One generated image.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        prompt: the prompt it was generated for.
        seed: the seed of its initial noise (None: unseeded).
        info: how it was made (steps, guidance, controls, seconds, ...).
    """

    image: np.ndarray
    prompt: str
    seed: int | None = None
    info: dict = field(default_factory=dict)

    def png(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.image).save(buffer, format="PNG")
        return buffer.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the image as PNG (atomically)."""
        from gfx.files import write_bytes

        write_bytes(path, self.png())
        return Path(path)

    def _repr_png_(self) -> bytes:
        return self.png()
