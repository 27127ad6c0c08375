"""The registry of part-dataset categories: name -> builder, in a fixed order."""

from __future__ import annotations

from collections.abc import Callable

from gfx.data.parts3d.builder import Builder
from gfx.data.parts3d.furniture import FURNITURE
from gfx.data.parts3d.household import HOUSEHOLD
from gfx.data.parts3d.vehicles import VEHICLES

_BUILDERS = {**FURNITURE, **HOUSEHOLD, **VEHICLES}
CATEGORIES: dict[str, Callable[[Builder], str]] = {
    name: _BUILDERS[name] for name in ("chair", "table", "lamp", "mug", "shelf", "bed", "toy_car", "plane")
}
"""Category name -> builder (adds parts to a `Builder`, returns the caption)."""


def get_category(name: str) -> Callable[[Builder], str]:
    if name not in CATEGORIES:
        raise KeyError(f"unknown part category {name!r}; valid: {', '.join(CATEGORIES)}")
    return CATEGORIES[name]
