"""What the studio's "Text -> scene" tab does, without gradio: compose a scene, write its SVG and a preview, and
list its objects.

Inputs are checked with `gfx.apps.studio_handlers`'s checks (refused with its `StudioInputError`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from gfx.apps.studio_handlers import (
    PREVIEW_SIZE,
    StudioInputError,
    _fresh_dir,
    _slug,
    check_prompt,
    check_seed,
)

OBJECT_COLUMNS = ["object", "x0", "y0", "x1", "y1"]
SCENE_EXAMPLES = [
    ["two trees left of a house and a sun above the house", "0", "icons"],
    ["a small cat inside a large box", "1", "icons"],
    ["three birds above a car", "2", "primitives"],
]
"""Text -> scene examples: prompt, seed, mode."""


@dataclass(frozen=True)
class SceneOutput:
    """A composed scene: its preview PNG, its SVG file, one row per object (`OBJECT_COLUMNS`) and a status line."""

    png: str
    svg_file: str
    objects: list[list]
    status: str


def generate_scene(prompt, seed, mode, *, layout_model: str | None, icon_model: str | None,
                   work_dir: str | os.PathLike) -> SceneOutput:
    """Text -> scene with `gfx.svg.scene`; writes the SVG and its preview into a fresh folder."""
    import gfx.svg
    from gfx.svg.core.render import save_png
    from gfx.svg.scene_compose import MODES

    prompt, seed = check_prompt(prompt, required=True), check_seed(seed)
    if mode not in MODES:
        raise StudioInputError(f"mode must be one of {', '.join(MODES)}")
    start = time.perf_counter()
    result = gfx.svg.scene(prompt, seed=seed, mode=mode, layout_model=layout_model, icon_model=icon_model)
    seconds = time.perf_counter() - start
    out_dir = _fresh_dir(work_dir, "scene-")
    stem = _slug(prompt)
    result.save(out_dir / f"{stem}.svg")
    save_png(result.render(PREVIEW_SIZE * 2), out_dir / f"{stem}.png")
    rows = [[o["phrase"], *o["box"]] for o in result.info["objects"]]
    return SceneOutput(str(out_dir / f"{stem}.png"), str(out_dir / f"{stem}.svg"), rows,
                       f"{len(rows)} objects in {seconds:.1f} s (seed {seed}, {mode})")
