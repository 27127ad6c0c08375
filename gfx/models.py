"""Where the shipped checkpoints live: $GFX_MODELS/<name>/ when set, else the shipped `models/<name>/`.

The shipped folder is `models/` at the repository root in a checkout and package data inside an
installed wheel (`gfx.paths.shipped`). Point $GFX_MODELS at a folder with the same layout to use other
checkpoints by default, e.g. retrained ones.
"""

from __future__ import annotations

import os
from pathlib import Path

from gfx.config import lookup
from gfx.paths import shipped

MODELS_ENV = "GFX_MODELS"
MODELS_DIR = Path(os.environ[MODELS_ENV]) if os.environ.get(MODELS_ENV) else shipped("models")

SHIPPED = {
    "iconshop": "iconshop-mini",
    "icon-clip": "icon-clip",
    "fullpart": "fullpart-mini",
    "vat": "vat-mini",
    "starvector": "starvector-mini",
    "mesh-classifier": "parts-classifier",
    "svgcraft-layout": "svgcraft-layout",
    "shapes-diffusion": "shapes-diffusion",
    "llm4svg": "llm4svg-mini",
}
"""Task name -> directory under `MODELS_DIR` of the checkpoint gfx uses by default."""

IMAGE_MODELS = {"hita-mini": "hita", "xar-mini": "xar"}
"""Text -> image models chosen by name (`gfx.image.generate(..., model="hita-mini")`): directory under
`MODELS_DIR` -> the `gfx train` recipe that makes it."""


def model_path(task: str) -> Path:
    """The shipped checkpoint directory for `task`; FileNotFoundError says how to get it."""
    path = MODELS_DIR / lookup(SHIPPED, task, "shipped model")
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path} is missing; set ${MODELS_ENV} to a folder with {path.name}/, pass a model directory, "
            f"or train it with `gfx train {task}`"
        )
    return path
