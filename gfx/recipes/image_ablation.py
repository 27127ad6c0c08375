"""`gfx eval image-ablation`: which part of each training-free control moves its number on a given model.

    gfx eval image-ablation --split val [--limit N] [--model DIR]

The prompts, sets, checks and seeds are those of `gfx eval image` (`gfx.recipes.image_eval`):

1. ToMe's parts, on two-object binding prompts: the plain model, full ToMe, and ToMe with parts turned off
   (token merging, end-token substitution, the semantic-binding loss, the entropy loss). Each variant's binding
   accuracy and its rise over the plain model, with the spread of the per-seed rises.
2. T2IS's sampling modes, on the image sets: independent samples; attention shared by every image (T2IS's
   in-context panels); shared with the first image only (StyleAligned's anchor); the same initial noise; and
   the same noise with the anchor. Set consistency and alignment per description family.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from gfx.recipes.image_eval import (
    Evaluator,
    binding_prompts,
    evaluated_pipeline,
    has_objects,
    seed_accuracy,
    seed_difference,
    split_seed,
    t2is_sets,
)

TOME_PARTS = {
    "ToMe": {},
    "token merging only": dict(end_token_substitution=False, binding_iterations=0, refinements=0),
    "end-token substitution only": dict(merge=False, binding_iterations=0, refinements=0),
    "prompt edits only": dict(binding_iterations=0, refinements=0),
    "end-token + semantic binding": dict(merge=False, refinements=0),
    "end-token + entropy": dict(merge=False, binding_iterations=0),
    "losses only": dict(merge=False, end_token_substitution=False),
}
"""Variant name -> `ToMe` options."""

SET_MODES = {
    "independent": dict(shared_steps=0),
    "shared by all": dict(shared_steps=10),
    "anchor": dict(shared_steps=10, anchor=True),
    "same noise": dict(shared_steps=0, same_noise=True),
    "same noise + anchor": dict(shared_steps=10, anchor=True, same_noise=True),
}
"""Sampling mode -> `generate_set` options."""

DEFAULT_COUNTS = {"tome": 20, "sets": 16}


def tome_parts(ev: Evaluator, rng: np.random.Generator, count: int) -> dict:
    """Binding accuracy of the plain model and of each `TOME_PARTS` variant on `count` two-object prompts."""
    from gfx.image.tome import ToMe

    prompts = binding_prompts(rng, 2, count)

    def check(item, detection) -> bool:
        return has_objects(detection, item[1])

    plain = ev.hits(prompts, "plain", check, lambda: [])
    report = {"prompts": len(prompts), "plain": seed_accuracy(plain)}
    for name, options in TOME_PARTS.items():
        hits = ev.hits(prompts, name, check, lambda options=options: [ToMe(**options)])
        rise, spread = seed_difference(hits, plain)
        report[name] = {**seed_accuracy(hits), "rise": rise, "rise_seed_std": spread}
    return report


def evaluate_image_ablation(split: str | None = "val", limit: int = 0, progress: Callable | None = None, *,
                            model=None, seeds: int = 4, steps: int = 25, guidance: float | None = None,
                            set_size: int = 3) -> dict:
    """The report of the module docstring, JSON-ready; `limit` caps the prompts and the sets (0: the defaults)."""
    import torch

    from gfx.image.denoise import resolved_guidance

    base = split_seed(split)
    started = time.perf_counter()
    counts = {k: min(v, limit) if limit else v for k, v in DEFAULT_COUNTS.items()}
    pipe, label = evaluated_pipeline(model)
    guidance = resolved_guidance(pipe, guidance)
    torch.manual_seed(base)
    ev = Evaluator(pipe, seeds, base, steps, guidance, progress)
    report = {"split": split, "model": label, "seeds": seeds, "steps": steps, "guidance": guidance,
              "tome": tome_parts(ev, np.random.default_rng(base), counts["tome"]),
              "t2is": t2is_sets(ev, np.random.default_rng(base + 1), counts["sets"], set_size, SET_MODES)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
