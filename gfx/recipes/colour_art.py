"""The colour-artwork evaluation set of `gfx eval vectorize --set colour`, fetched from npm when evaluated.

Flat-colour artwork of two designers, never committed and never used for training or tuning (DESIGN.md
section 3): each pinned package is fetched with `npm pack` (integrity checked, `gfx.data.npm`) into
the npm cache, a fixed, evenly spaced selection of its SVGs is rendered with cairosvg on white and the
renders are cached as PNG under `.cache/colour-art/<size>/`.

Licences (the artwork is only rendered for evaluation, not redistributed):
- Twemoji graphics, `@twemoji/svg` 15.0.0: CC-BY 4.0, (c) Twitter, Inc. and other contributors
  (https://github.com/jdecked/twemoji); the npm packaging is MIT. Single code point emoji only (no flags,
  skin-tone or ZWJ sequences).
- `flat-color-icons` 1.1.0 (Icons8): MIT (or the "Good Boy License", at the user's choice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gfx.data.npm import NpmPackage
from gfx.data.subset import evenly_spaced
from gfx.paths import cache_dir

log = logging.getLogger(__name__)

NPM_CACHE_DIR = cache_dir("npm")
RENDER_CACHE_DIR = cache_dir("colour-art")

TWEMOJI = NpmPackage(
    "@twemoji/svg",
    "15.0.0",
    "sha512-ZSPef2B6nBaYnfgdTbAy4jgW95o7pi2xPGwGCU+WMTxo7J6B1lMPTWwSq/wTuiMq+N0khQ90CcvYp1wFoQpo/w==",
)
FLAT_COLOR_ICONS = NpmPackage(
    "flat-color-icons",
    "1.1.0",
    "sha512-duN0PycToLxktav7Asyw0hYCSxH8dvoCbeZHw0zSTw+KXg4rAH4CcLViDrGjg//nLfoZjiDV34kw8xmJJfSfqA==",
)


@dataclass(frozen=True)
class ArtSource:
    """One pinned package of colour artwork.

    Attributes:
        name: short key, e.g. "twemoji".
        package: the pinned npm package.
        folder: where its SVG files lie inside the package root.
        count: how many files are evaluated (evenly spaced over the sorted eligible files).
        license: the artwork's licence, as reported.
    """

    name: str
    package: NpmPackage
    folder: str
    count: int
    license: str

    def eligible(self, path: Path) -> bool:
        """Twemoji: single code point emoji only (flags, skin tones and sequences repeat their base)."""
        return self.name != "twemoji" or "-" not in path.stem


ART_SOURCES = (
    ArtSource("twemoji", TWEMOJI, ".", 30, "CC-BY-4.0"),
    ArtSource("flat-color-icons", FLAT_COLOR_ICONS, "svg", 20, "MIT"),
)


@dataclass(frozen=True)
class ArtImage:
    """One rendered artwork: `name` ("twemoji/1f680"), `image` (size, size, 3) uint8 RGB on white."""

    name: str
    image: np.ndarray


def load_colour_art(size: int = 256, limit: int = 0) -> list[ArtImage]:
    """The colour evaluation set rendered at `size` px (fetched and rendered on first use, then cached).

    Args:
        size: render side in pixels.
        limit: keep this many images, evenly spaced over the set (0: all 50).

    Raises:
        gfx.data.npm.NpmError: npm is missing or a package does not match its pin.
    """
    from PIL import Image

    out = []
    for source in ART_SOURCES:
        for name, svg_path in _selected_files(source):
            png = RENDER_CACHE_DIR / str(size) / source.name / f"{name}.png"
            if not png.exists():
                _render_to(svg_path, png, size)
            out.append(ArtImage(f"{source.name}/{name}", np.asarray(Image.open(png).convert("RGB"))))
    return evenly_spaced(out, limit)


def _selected_files(source: ArtSource) -> list[tuple[str, Path]]:
    from gfx.data.npm import fetch_package

    root = fetch_package(source.package, NPM_CACHE_DIR)
    files = [p for p in sorted((root / source.folder).glob("*.svg")) if source.eligible(p)]
    if len(files) < source.count:
        raise FileNotFoundError(f"{root / source.folder} has {len(files)} eligible SVGs, expected at least "
                                f"{source.count}; delete {root.parent} and fetch it again")
    step = len(files) / source.count
    return [(files[int(i * step)].stem, files[int(i * step)]) for i in range(source.count)]


def _render_to(svg_path: Path, png: Path, size: int) -> None:
    from gfx.svg.core.render import render_png

    png.parent.mkdir(parents=True, exist_ok=True)
    data = render_png(svg_path.read_text(encoding="utf-8"), size, source=str(svg_path))
    tmp = png.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(png)
