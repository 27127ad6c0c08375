"""Where the shipped checkpoints live: `models/<name>/` beside the package, or $GFX_MODELS/<name>/."""

from __future__ import annotations

import os
from pathlib import Path

from gfx.config import lookup

MODELS_DIR = Path(os.environ.get("GFX_MODELS", Path(__file__).resolve().parent.parent / "models"))

SHIPPED = {
    "iconshop": "iconshop-mini",
    "icon-clip": "icon-clip",
    "fullpart": "fullpart-mini",
    "vat": "vat-mini",
    "starvector": "starvector-mini",
}
"""Task name -> directory under `MODELS_DIR` of the checkpoint gfx uses by default."""


def model_path(task: str) -> Path:
    """The shipped checkpoint directory for `task`; FileNotFoundError says how to get it."""
    path = MODELS_DIR / lookup(SHIPPED, task, "shipped model")
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing; train it with `gfx train {task}` or pass a model directory")
    return path
