"""Where gfx finds the data it ships and where it keeps caches, from a checkout or an installed wheel.

Shipped data is what gfx reads at run time: the checkpoints in `models/`, the icon corpus (with its
licences) in `assets/icons/` and CLIP's BPE merge list in `assets/clip-bpe/` (new text -> image models). A source checkout (also an editable install) reads them at the
repository root; the wheel carries them inside the package as `gfx/_shipped/models/` and
`gfx/_shipped/icons/` (hatch `force-include`, see pyproject.toml), found with `importlib.resources`.
The package copy wins when both exist.

Caches (training state, rendered rasters, npm tarballs, generated datasets) are never shipped: in a
checkout they go to `<repo>/.cache/<name>/` as before; in an install to the user cache folder,
`$XDG_CACHE_HOME/gfx/<name>/` (default `~/.cache/gfx/<name>/`). `$GFX_CACHE` overrides both.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from gfx.config import lookup

PACKAGE_DATA = "_shipped"
"""The folder inside the installed package that holds the shipped data."""

SHIPPED_DATA = {"models": "models", "icons": "assets/icons", "clip-bpe": "assets/clip-bpe"}
"""Shipped data by name -> its folder in a checkout, relative to the repository root."""


def checkout_root() -> Path | None:
    """The repository root when gfx runs from a source checkout (pyproject.toml beside gfx/), else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "gfx" / "__init__.py").is_file() else None


def shipped(name: str) -> Path:
    """The folder of the shipped data `name` (a key of SHIPPED_DATA): the package's copy, else the checkout's.

    Where neither exists (a broken install) this is the package's path, so the reader's "missing" error
    names where the data should be. KeyError for a `name` that is not shipped data.
    """
    in_checkout = lookup(SHIPPED_DATA, name, "shipped data")
    packaged = Path(str(importlib.resources.files("gfx").joinpath(PACKAGE_DATA, name)))
    root = checkout_root()
    if packaged.is_dir() or root is None or not (root / in_checkout).is_dir():
        return packaged
    return root / in_checkout


def cache_dir(name: str) -> Path:
    """The cache folder `name` (not created): $GFX_CACHE/<name>, else <checkout>/.cache/<name>, else
    $XDG_CACHE_HOME/gfx/<name> (default ~/.cache/gfx/<name>)."""
    if os.environ.get("GFX_CACHE"):
        return Path(os.environ["GFX_CACHE"]) / name
    root = checkout_root()
    if root is not None:
        return root / ".cache" / name
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gfx" / name
