"""The fields of a job line: `Field` (check, default, is-input) and the checks the job kinds use.

A check takes the JSON value of a field and returns the value to use, or raises ValueError with a
short reason ("must be ...") that `gfx.jobs.spec` prefixes with the line number and field name.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

REQUIRED = object()
"""`Field.default` for a field that every job line of the kind must give."""


@dataclass(frozen=True)
class Field:
    """One kind-specific field of a job line.

    Attributes:
        check: returns the value to use, or raises ValueError with a short reason ("must be ...").
        default: the value when the line omits the field; `REQUIRED` makes it mandatory.
        is_input: the value is the path of an input file, resolved against the job file's folder;
            the handler receives the file's bytes under the field's name.
    """

    check: Callable[[Any], Any]
    default: Any = REQUIRED
    is_input: bool = False



def input_path(value: Any) -> str:
    """A non-empty path string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty path string")
    return value


def optional_input_path(value: Any) -> str | None:
    """A non-empty path string, or null."""
    return None if value is None else input_path(value)


MAX_RENDER_SIZE = 8192


def render_sizes(value: Any) -> list[int]:
    """A non-empty list of at most 16 distinct pixel sizes in 1..MAX_RENDER_SIZE."""
    valid = (
        isinstance(value, list)
        and 0 < len(value) <= 16
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_RENDER_SIZE for v in value)
        and len(set(value)) == len(value)
    )
    if not valid:
        raise ValueError(f"must be a list of 1 to 16 distinct integers in 1..{MAX_RENDER_SIZE}")
    return value


def background_colour(value: Any) -> str | None:
    """A CSS colour string, or "none"/null for a transparent background (None)."""
    if value is None or value == "none":
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isprintable():
        raise ValueError('must be a CSS colour string such as "white" or "#ffffff", or "none"')
    return value


def png_sizes(value: Any) -> list[int]:
    """Like `render_sizes`, but may be empty (no PNGs)."""
    if value == []:
        return value
    try:
        return render_sizes(value)
    except ValueError:
        raise ValueError(f"must be a list of up to 16 distinct integers in 1..{MAX_RENDER_SIZE}") from None


MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_ICONS = 16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def prompt_text(value: Any) -> str:
    """A text prompt of at most MAX_PROMPT_CHARS characters ("" allowed)."""
    if not isinstance(value, str) or len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f"must be a string of at most {MAX_PROMPT_CHARS} characters")
    return value


def required_prompt(value: Any) -> str:
    """A non-blank text prompt of at most MAX_PROMPT_CHARS characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f'must be a non-empty string of at most {MAX_PROMPT_CHARS} characters, e.g. "a chair"')
    return value


MAX_SET = 8


def set_variations(value: Any) -> list[str]:
    """Up to MAX_SET texts, one per image of a set (each a prompt_text), or [] for no set."""
    if not (isinstance(value, list) and len(value) <= MAX_SET and all(
            isinstance(v, str) and len(v) <= MAX_PROMPT_CHARS for v in value)):
        raise ValueError(f"must be a list of at most {MAX_SET} strings (one per image of the set)")
    return value


def seed_value(value: Any) -> int | None:
    """An integer seed in 0..MAX_SEED, or null for a random one."""
    if value is not None and not (_is_int(value) and 0 <= value <= MAX_SEED):
        raise ValueError(f"must be an integer in 0..{MAX_SEED}, or null for a random seed")
    return value


def whole_number(low: int, high: int, *, nullable: bool = False) -> Callable[[Any], int | None]:
    """A check for an integer in low..high (or null, when `nullable`)."""

    def check(value: Any) -> int | None:
        if value is None and nullable:
            return None
        if not (_is_int(value) and low <= value <= high):
            raise ValueError(f"must be an integer in {low}..{high}" + (", or null" if nullable else ""))
        return value

    return check


def boolean(value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def optional_bool(value: Any) -> bool | None:
    """true, false or null."""
    if value is not None and not isinstance(value, bool):
        raise ValueError("must be true, false or null")
    return value


GUIDANCE_RANGE = (1.0, 100.0)


def guidance_scale(value: Any) -> float | None:
    """A classifier-free guidance scale in GUIDANCE_RANGE (1 = off), or null for the model's."""
    low, high = GUIDANCE_RANGE
    if value is None:
        return None
    if not (isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"must be a number in {low:g}..{high:g} (1 = off), or null for the model's default")
    return float(value)


def icon_style(value: Any) -> str | None:
    """One of `gfx.svg.icon_style.STYLES`, or null for unconstrained sampling."""
    from gfx.svg.icon_style import STYLES

    if value is not None and value not in STYLES:
        raise ValueError(f"must be one of {', '.join(STYLES)}, or null for any style")
    return value


def scene_mode(value: Any) -> str:
    """One of `gfx.svg.scene_compose.MODES`."""
    from gfx.svg.scene_compose import MODES

    if value not in MODES:
        raise ValueError(f"must be one of {', '.join(MODES)}")
    return value


def checkpoint_dir(class_name: str | tuple[str, ...], what: str, example: str,
                   names: Sequence[str] = ()) -> Callable[[Any], str | None]:
    """A check for a model directory holding a `class_name` (or one of several; `gfx.checkpoint.directory_class`,
    old layouts too), made absolute; null means the shipped model; `names` are model names kept as they are.

    Relative paths resolve against the current directory (as `--model DIR` does on the command line).
    """
    classes = (class_name,) if isinstance(class_name, str) else class_name

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be {what} directory path, or null for the shipped model")
        if value in names:
            return value
        from gfx.checkpoint import directory_class

        path = os.path.abspath(os.path.expanduser(value))
        found = directory_class(path)
        if found not in classes:
            raise ValueError(f"must be {what} directory (e.g. {example}); {path} holds "
                             f"{'a ' + found if found else 'no checkpoint gfx knows'}")
        return path

    return check


def concept_dir(marker: str, recipe: str) -> Callable[[Any], str | None]:
    """A check for a learned-concept directory (it holds `marker`, written by `gfx train <recipe>`), made absolute;
    null: none."""

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be a learned-concept directory path (gfx train {recipe}), or null")
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.isfile(os.path.join(path, marker)):
            raise ValueError(f"must be a learned-concept directory (e.g. models/{recipe}); {path} has no {marker}")
        return path

    return check


def vectorize_method(value: Any) -> str:
    """One of `gfx.svg.vectorization.vectorizer.METHODS`; "potrace" only where the potrace binary is installed."""
    from gfx.svg.vectorization.vectorizer import METHODS

    if value not in METHODS:
        raise ValueError(f"must be one of {', '.join(METHODS)}")
    if value == "potrace" and shutil.which("potrace") is None:
        raise ValueError("needs the potrace binary on PATH (apt install potrace); use \"vtracer\" instead")
    return value


MESH_SUFFIXES = (".glb", ".obj", ".ply")
"""Mesh files a job may name: self-contained ones (a .gltf's external buffers would not travel with it)."""


def mesh_path(value: Any) -> str:
    """A path of a .glb, .obj or .ply file."""
    if not isinstance(value, str) or os.path.splitext(value)[1].lower() not in MESH_SUFFIXES:
        raise ValueError(f"must be the path of a {', '.join(MESH_SUFFIXES)} file")
    return value


MAX_VIEWS = 16


def camera_views(value: Any) -> list[list[float]] | None:
    """null (the preview's four views) or 1..MAX_VIEWS [azimuth, elevation] pairs in degrees."""
    if value is None:
        return None

    def angle(a: Any, limit: float) -> bool:
        return isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) and abs(a) <= limit

    if not (isinstance(value, list) and 0 < len(value) <= MAX_VIEWS and all(
            isinstance(v, list) and len(v) == 2 and angle(v[0], 360) and angle(v[1], 90) for v in value)):
        raise ValueError(f"must be a list of 1 to {MAX_VIEWS} [azimuth, elevation] pairs in degrees "
                         "(|azimuth| <= 360, |elevation| <= 90), or null")
    return [[float(a), float(e)] for a, e in value]


def mesh_format(value: Any) -> str:
    """A mesh file type `gfx.mesh.export` writes ("glb", "obj" or "ply")."""
    from gfx.mesh.export import EXPORTERS

    if value not in EXPORTERS:
        raise ValueError(f"must be one of {', '.join(EXPORTERS)}")
    return value
