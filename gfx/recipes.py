"""Training recipes: `gfx train NAME` -> the function that reproduces a shipped model.

An explicit registry of "module:function" strings, imported only when a recipe runs. Every recipe
takes `out_dir`, `resume`, `progress` and `steps` keyword arguments and returns the model card facts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from gfx.config import lookup

RECIPES = {
    "iconshop": "gfx.svg.iconshop_train:train_iconshop",
    "icon-clip": "gfx.svg.icon_clip:train_icon_clip",
}


def get_recipe(name: str) -> Callable[..., dict]:
    """The recipe function registered as `name`; KeyError lists the valid names."""
    module, function = lookup(RECIPES, name, "recipe").split(":")
    return getattr(importlib.import_module(module), function)
