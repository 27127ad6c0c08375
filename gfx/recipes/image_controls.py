"""`gfx eval image-controls`: the learned controls on a text -> image model, each with and without, on held-out
world prompts and the same seeds, measured by the 2D world's detectors.

    gfx eval image-controls --split test [--limit N] [--model DIR] [--negative-concept DIR]

Sections (issue 20; CoRe and StyleTokenizer are to come):
1. geom_erasing: the implicit-concept rate, the share of images where `detect_mark` finds the corner mark, on world
   captions drawn from the split's own random stream (the training draws from seed 0's), with and without
   `GeomErasing`; per seed, and the drop against its spread over seeds. No loss elsewhere: the quality gate of
   `gfx eval image` (single objects: shape and colour; two objects: both shapes) with and without, on the same
   prompts and seeds; each may fall by at most `MAX_QUALITY_LOSS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gfx.data.shapes2d.world import caption, sample_scene
from gfx.recipes.image_eval import (
    Evaluator,
    evaluated_pipeline,
    quality_gate,
    seed_accuracy,
    seed_difference,
    split_seed,
)

DEFAULT_COUNTS = {"captions": 30, "single": 30, "pairs": 20}
MAX_QUALITY_LOSS = 0.05
"""The most a control may cost a quality measure (5 points, issue 20)."""
GEOM_ERASING_MODEL = "geom-erasing"
"""The learned concept's default directory under `gfx.models.MODELS_DIR`."""


def geom_erasing(pipe, concept: str | Path, base: int, counts: dict, seeds: int, steps: int, guidance: float,
                 progress: Callable | None) -> dict:
    """The Geom-Erasing section of the report (module docstring)."""
    from gfx.image.geom_erasing import GeomErasing

    control = GeomErasing(concept)
    without = Evaluator(pipe, seeds, base, steps, guidance, progress)
    with_erasing = Evaluator(pipe, seeds, base, steps, guidance, progress, controls=lambda: [control])
    rng = np.random.default_rng(base)
    prompts = [(caption(sample_scene(rng), rng),) for _ in range(counts["captions"])]

    def marked(item, found) -> bool:
        return found.mark is not None

    rates = {"without": without.hits(prompts, "erasing off: marks", marked),
             "with": with_erasing.hits(prompts, "erasing on: marks", marked)}
    rise, spread = seed_difference(rates["with"], rates["without"])
    quality = {name: quality_gate(ev, np.random.default_rng(base + 1), counts["single"], counts["pairs"])
               for name, ev in (("without", without), ("with", with_erasing))}
    change = {k: round(quality["with"][k] - quality["without"][k], 4) for k in ("single_object", "two_objects")}
    return {
        "concept": str(concept), "negative_prompt": control.negative(pipe), "prompts": len(prompts),
        "concept_rate": {**{k: seed_accuracy(v, "rate") for k, v in rates.items()},
                         "drop": round(-rise, 4), "drop_seed_std": spread, "beyond_spread": bool(-rise > spread)},
        "quality": {**{k: {m: v[m] for m in change} for k, v in quality.items()}, "change": change,
                    "within_limit": all(c >= -MAX_QUALITY_LOSS for c in change.values())},
    }


def evaluate_image_controls(split: str | None = "test", limit: int = 0, progress: Callable | None = None, *,
                            model=None, negative_concept: str | Path | None = None, seeds: int = 4, steps: int = 25,
                            guidance: float = 3.0) -> dict:
    """The report of the module docstring, JSON-ready.

    Args:
        split: "val" or "test" (or None): which seeds draw the prompts and the initial noise.
        limit: at most this many prompts per measure (0: the defaults).
        model: a pipeline, or a `ShapesDiffusionPipeline` directory (default: the shipped model).
        negative_concept: a Geom-Erasing directory (default: the shipped `models/geom-erasing`).
        seeds: images per prompt (seeds base, base + 1, ...).
    """
    import torch

    from gfx.models import MODELS_DIR

    base = split_seed(split)
    if negative_concept is None:
        negative_concept = MODELS_DIR / GEOM_ERASING_MODEL
        if not negative_concept.is_dir():
            raise FileNotFoundError(f"{negative_concept} is missing; train it with `gfx train geom-erasing "
                                    "--init-from DIR` or pass --negative-concept DIR")
    started = time.perf_counter()
    counts = {k: min(v, limit) if limit else v for k, v in DEFAULT_COUNTS.items()}
    pipe, label = evaluated_pipeline(model)
    report = {"split": split, "model": label, "seeds": seeds, "steps": steps, "guidance": guidance}
    torch.manual_seed(base)
    report["geom_erasing"] = geom_erasing(pipe, negative_concept, base, counts, seeds, steps, guidance, progress)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
