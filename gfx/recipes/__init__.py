"""Training recipes (`gfx train NAME`) and evaluations (`gfx eval NAME`).

Explicit registries of "module:function" strings, imported only when used. Every recipe takes
`out_dir`, `resume`, `progress` and `steps` keyword arguments and returns the model card facts; every
evaluation takes `split`, `limit` and `progress` and returns a JSON-ready report.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from gfx.config import lookup

RECIPES = {
    "iconshop": "gfx.recipes.iconshop:train_iconshop",
    "icon-clip": "gfx.recipes.icon_clip:train_icon_clip",
    "fullpart": "gfx.recipes.fullpart:train_fullpart",
    "vat": "gfx.recipes.vat:train_vat",
    "starvector": "gfx.recipes.starvector:train_starvector",
    "shapes-diffusion": "gfx.recipes.shapes_diffusion:train_shapes_diffusion",
}


EVALUATIONS = {
    "roundtrip": "gfx.recipes.roundtrip:evaluate_roundtrip",
    "iconshop": "gfx.recipes.iconshop_eval:evaluate_iconshop_split",
    "fullpart": "gfx.recipes.fullpart:evaluate_fullpart",
    "vat": "gfx.recipes.vat:evaluate_vat",
    "vectorize": "gfx.recipes.vectorize:evaluate_vectorize",
}


def get_recipe(name: str) -> Callable[..., dict]:
    """The recipe function registered as `name`; KeyError lists the valid names."""
    return _resolve(lookup(RECIPES, name, "recipe"))


def get_evaluation(name: str) -> Callable[..., dict]:
    """The evaluation function registered as `name`; KeyError lists the valid names."""
    return _resolve(lookup(EVALUATIONS, name, "evaluation"))


def _resolve(target: str) -> Callable[..., dict]:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)
