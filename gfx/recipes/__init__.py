"""Training recipes (`gfx train NAME`) and evaluations (`gfx eval NAME`).

Explicit registries of "module:attribute" strings, imported only when used. Every recipe is a
`gfx.recipes.run.Recipe` that `gfx.recipes.run.train_recipe` runs; every evaluation takes `split`, `limit` and
`progress` and returns a JSON-ready report.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gfx.config import lookup

if TYPE_CHECKING:
    from gfx.recipes.run import Recipe

RECIPES = {
    "iconshop": "gfx.recipes.iconshop:RECIPE",
    "svgcraft-layout": "gfx.recipes.svgcraft:RECIPE",
    "llm4svg": "gfx.recipes.llm4svg:RECIPE",
    "icon-clip": "gfx.recipes.icon_clip:RECIPE",
    "fullpart": "gfx.recipes.fullpart:RECIPE",
    "vat": "gfx.recipes.vat:RECIPE",
    "starvector": "gfx.recipes.starvector:RECIPE",
    "shapes-diffusion": "gfx.recipes.shapes_diffusion:RECIPE",
    "geom-erasing": "gfx.recipes.geom_erasing:RECIPE",
    "core-concept": "gfx.recipes.concept:RECIPE",
    "textual-inversion": "gfx.recipes.concept:BASELINE_RECIPE",
    "style-tokenizer": "gfx.recipes.style_tokenizer:RECIPE",
    "mesh-classifier": "gfx.recipes.mesh_classifier:RECIPE",
    "hita": "gfx.recipes.hita:RECIPE",
    "xar": "gfx.recipes.xar:RECIPE",
    "world-features": "gfx.recipes.world_features:RECIPE",
}


EVALUATIONS = {
    "roundtrip": "gfx.recipes.roundtrip:evaluate_roundtrip",
    "iconshop": "gfx.recipes.iconshop_eval:evaluate_iconshop_split",
    "svgcraft": "gfx.recipes.svgcraft_eval:evaluate_svgcraft",
    "llm4svg": "gfx.recipes.llm4svg_eval:evaluate_llm4svg",
    "fullpart": "gfx.recipes.fullpart:evaluate_fullpart",
    "vat": "gfx.recipes.vat:evaluate_vat",
    "vectorize": "gfx.recipes.vectorize:evaluate_vectorize",
    "image": "gfx.recipes.image_eval:evaluate_image",
    "image-ablation": "gfx.recipes.image_ablation:evaluate_image_ablation",
    "image-controls": "gfx.recipes.image_controls:evaluate_image_controls",
    "mesh-classifier": "gfx.recipes.mesh_classifier:evaluate_classifier",
    "image-ar": "gfx.recipes.image_ar_eval:evaluate_image_ar",
}


def get_recipe(name: str) -> Recipe:
    """The recipe registered as `name`; KeyError lists the valid names."""
    return _resolve(lookup(RECIPES, name, "recipe"))


def get_evaluation(name: str) -> Callable[..., dict]:
    """The evaluation function registered as `name`; KeyError lists the valid names."""
    return _resolve(lookup(EVALUATIONS, name, "evaluation"))


def _resolve(target: str) -> Any:
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)
