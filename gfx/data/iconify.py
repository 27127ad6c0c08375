"""Iconify JSON icon sets from pinned npm packages: evaluation-only real-world artwork, never committed.

An Iconify set is one `icons.json`: `{"prefix", "width", "height", "icons": {name: {"body", ...}}}` where each
body is the inside of an `<svg>` (gradients, clip paths, masks, `<use>` and transforms included). `iconify_svgs`
wraps bodies into standalone SVG files exactly as Iconify does (viewBox `left top width height`).

`load_artwork` fetches a set's package with `npm pack` (sha512-pinned, `gfx.data.npm`) into the npm cache on
first use and returns a fixed, seeded sample, so evaluations are reproducible. Registered sets (DESIGN.md
section 3: evaluation-only sets an issue names, fetched at evaluation time):

- `noto`: Google Noto Emoji, `@iconify-json/noto` 1.2.9, Apache-2.0 (colour emoji with linear and radial
  gradients, group opacity, clip paths and `<use>`).
- `devicon`: Devicon, `@iconify-json/devicon` 1.2.68, MIT (brand logos with gradients, masks and transforms).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gfx.data.npm import NpmPackage, fetch_package
from gfx.paths import cache_dir

NPM_CACHE_DIR = cache_dir("npm")

NOTO = NpmPackage(
    "@iconify-json/noto",
    "1.2.9",
    "sha512-DQiuXENbun41ch+XPSV55H9FaWKpHTyz46YIKtSaKYD4fIDDzL1tR6H4np/T38jfrTAeI3rcKF0mqHYeZVAuaw==",
)
DEVICON = NpmPackage(
    "@iconify-json/devicon",
    "1.2.68",
    "sha512-4RNlCSNCSgDEOVMHkBOxgik9agJcVRcfXwAZcwMdIolWx/lvXHzo2kqcqTqQGviZuBbnv3L1lyd+CowyZE+I3g==",
)


@dataclass(frozen=True)
class IconifySet:
    """A registered Iconify JSON package: `name` (key), `package` (pinned) and its `license` (SPDX)."""

    name: str
    package: NpmPackage
    license: str


ARTWORK_SETS: dict[str, IconifySet] = {
    "noto": IconifySet("noto", NOTO, "Apache-2.0"),
    "devicon": IconifySet("devicon", DEVICON, "MIT"),
}


@dataclass(frozen=True)
class Artwork:
    """One icon of an Iconify set: `name` ("noto/rocket") and `svg`, a standalone SVG file's text."""

    name: str
    svg: str


def iconify_svgs(data: dict) -> dict[str, str]:
    """Standalone SVG text of every visible icon of an Iconify JSON set (aliases and hidden icons left out).

    Args:
        data: the parsed `icons.json`; an icon's `left`, `top`, `width` and `height` override the set's
            (defaults 0, 0, 16, 16).

    Returns:
        {icon name: SVG text}, in name order.
    """
    defaults = {"left": 0, "top": 0, "width": 16, "height": 16}
    defaults.update({k: data[k] for k in defaults if k in data})
    out = {}
    for name in sorted(data.get("icons", {})):
        icon = data["icons"][name]
        if icon.get("hidden") or not isinstance(icon.get("body"), str):
            continue
        box = " ".join(str(icon.get(k, defaults[k])) for k in ("left", "top", "width", "height"))
        out[name] = (
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{box}">{icon["body"]}</svg>'
        )
    return out


def load_artwork(
    name: str, count: int = 300, seed: int = 0, *, npm_cache: Path = NPM_CACHE_DIR
) -> list[Artwork]:
    """A fixed random sample of a registered set's icons (fetched from npm on first use, then cached).

    Args:
        name: a key of `ARTWORK_SETS`.
        count: icons drawn without replacement (all of them when the set has fewer; 0 = all).
        seed: the sampling seed; the same seed and pinned package always give the same icons.
        npm_cache: where the verified tarball and its unpacked files are kept.

    Returns:
        The sample in name order.

    Raises:
        KeyError: an unknown set (the message lists the valid ones).
        gfx.data.npm.NpmError: npm is missing or the package does not match its pin.
    """
    if name not in ARTWORK_SETS:
        raise KeyError(f"unknown artwork set {name!r}; valid sets: {', '.join(ARTWORK_SETS)}")
    root = fetch_package(ARTWORK_SETS[name].package, npm_cache)
    svgs = iconify_svgs(json.loads((root / "icons.json").read_text(encoding="utf-8")))
    names = sorted(svgs)
    if count and count < len(names):
        picked = np.random.default_rng(seed).choice(len(names), size=count, replace=False)
        names = [names[i] for i in sorted(picked)]
    return [Artwork(f"{name}/{n}", svgs[n]) for n in names]
