"""`gfx eval image-ar`: Hita, xAR and the diffusion model on the same captions and seeds, on the 2D world.

    gfx eval image-ar --split test [--limit N]

Every model directory present under `gfx.models.MODELS_DIR` (`MODELS`) is scored; absent ones are listed with the
command that trains them. Prompts are captions of scenes drawn from the split's random stream; each prompt gets
`seeds` images (one batch, seeded by the split).

- FID on the world's own features: the penultimate layer of `models/world-features` (`gfx.image.world_features`),
  generated images against renders of other scenes of the split, Fréchet distance as `gfx.svg.core.metrics`.
- prompt accuracy: the world's detectors (`gfx.data.shapes2d.detect`) find every (shape, colour) the scene has;
  per seed, with the spread over seeds.
- tokenizer (Hita): reconstruction MSE of the renders in [-1, 1], rFID (reconstructions against the renders) and
  codebook usage (share of codes used, holistic and patch; the no-holistic ablation's first M tokens are pooled
  patch features, so its first figure is `pooled_slot_usage`).
- FID per seed too (each seed's images, one per prompt, against the same renders: a small-sample FID, biased
  upwards but alike for every model), so that a difference in FID has a spread like accuracy's.
- ablations (`COMPARISONS`): the rise of the first model over the second in accuracy and its drop in FID, each
  against the spread over seeds of the per-seed differences.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gfx.data.shapes2d.detect import detect
from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import caption, sample_scene
from gfx.recipes.image_eval import (
    features_fid,
    features_missing,
    has_objects,
    seed_accuracy,
    seed_difference,
    split_seed,
    world_feature_net,
    world_fid,
)

MODELS = {
    "hita": ("hita-mini", "gfx train hita"),
    "hita, no holistic tokens": (
        "hita-mini-patches", "gfx train hita --config scripts/train/hita-no-holistic.json --out models/hita-mini-patches"),
    "xar": ("xar-mini", "gfx train xar"),
    "xar, token entities": (
        "xar-mini-token", "gfx train xar --config scripts/train/xar-token.json --out models/xar-mini-token"),
    "xar, clean teacher forcing": (
        "xar-mini-clean", "gfx train xar --config scripts/train/xar-clean.json --out models/xar-mini-clean"),
    "diffusion": ("shapes-diffusion", "gfx train shapes-diffusion"),
}
"""Report label -> (directory under MODELS_DIR, the command that makes it). An ablation's config in scripts/train/
changes only its ablation field: the rest is the main model's schedule, so both have the same budget."""
COMPARISONS = {"holistic tokens": ("hita", "hita, no holistic tokens"), "cell vs token entities":
               ("xar", "xar, token entities"), "NCL vs clean teacher forcing": ("xar", "xar, clean teacher forcing")}
DEFAULT_COUNTS = {"prompts": 40, "real": 400}


def tokenizer_report(tokenizer, renders, real_features, net) -> dict:
    """Reconstruction MSE, rFID and codebook usage of a Hita tokenizer on uint8 renders."""
    from gfx.image.codec import to_uint8
    from gfx.image.world_features import to_pixels

    pixels = to_pixels(renders)
    with torch.no_grad():
        codes = tokenizer.encode(pixels)
        recon = tokenizer.decode(codes).clamp(-1, 1)
    c = tokenizer.config
    return {"mse": round(float(((recon - pixels) ** 2).mean()), 5), "rfid": world_fid(to_uint8(recon), real_features, net),
            "holistic_usage" if c.holistic else "pooled_slot_usage":
                round(len(codes.holistic.unique()) / c.holistic_codes, 4),
            "patch_usage": round(len(codes.patches.unique()) / c.patch_codes, 4)}


def evaluate_image_ar(split: str | None = "test", limit: int = 0, progress: Callable | None = None, *,
                      models: dict | None = None, features=None, seeds: int = 4) -> dict:
    """The report of the module docstring, JSON-ready.

    Args:
        limit: at most this many prompts, and 10 x limit real renders (0: the defaults).
        models: label -> pipeline or directory (default: the directories of `MODELS` that exist).
        features: a `WorldFeatureNet` (default: models/world-features).
        seeds: images per prompt.
    """
    from gfx.image.hita import HitaTokenizer
    from gfx.image.pipeline import load_default
    from gfx.image.world_features import world_features
    from gfx.models import MODELS_DIR

    progress = progress or (lambda done, total, label: None)
    started, base = time.perf_counter(), split_seed(split)
    features = world_feature_net(features)
    if features is None:
        raise FileNotFoundError(features_missing())
    missing = {}
    if models is None:
        models = {}
        for label, (name, command) in MODELS.items():
            if (MODELS_DIR / name).is_dir():
                models[label] = str(MODELS_DIR / name)
            else:
                missing[label] = f"models/{name} is absent; make it with `{command}`"
    n_prompts = min(DEFAULT_COUNTS["prompts"], limit) if limit else DEFAULT_COUNTS["prompts"]
    n_real = min(DEFAULT_COUNTS["real"], 10 * limit) if limit else DEFAULT_COUNTS["real"]
    rng = np.random.default_rng(base)
    scenes = [sample_scene(rng) for _ in range(n_prompts)]
    prompts = [caption(s, rng) for s in scenes]
    renders = [render(sample_scene(rng)) for _ in range(n_real)]
    real_features = world_features(renders, features)
    report = {"split": split, "prompts": n_prompts, "seeds": seeds, "real_images": n_real,
              "feature_extractor": "FID on the world's own features: the penultimate layer of the world-features "
              f"CNN ({features.config.feature_dim}-d), trained to read world properties (gfx train world-features)",
              "models": {}, "missing": missing}
    hits_of, fid_of = {}, {}
    for label, model in models.items():
        pipe = load_default(str(model)) if isinstance(model, str | Path) else model
        torch.manual_seed(base)
        images, rows, t0 = [], [], time.perf_counter()
        for k, (prompt, scene) in enumerate(zip(prompts, scenes, strict=True)):
            results = pipe(prompt, n=seeds, seed=base + k)
            images += [r.image for r in results]
            wanted = [(o.shape, o.color) for o in scene.objects]
            rows.append([has_objects(detect(r.image), wanted) for r in results])
            progress(k + 1, n_prompts, label)
        hits_of[label] = np.asarray(rows, bool)
        seconds = round((time.perf_counter() - t0) / len(images), 3)
        generated = world_features(images, features)  # prompt-major: seed s is every seeds-th row from s
        fid_of[label] = [features_fid(generated[s::seeds], real_features) for s in range(seeds)]
        entry = {"fid": features_fid(generated, real_features), **seed_accuracy(hits_of[label]),
                 "fid_per_seed": fid_of[label], "fid_seed_std": round(float(np.std(fid_of[label])), 3),
                 "seconds_per_image": seconds}
        if isinstance(getattr(pipe, "tokenizer", None), HitaTokenizer):  # a diffusion pipeline's is a text tokenizer
            entry["tokenizer"] = tokenizer_report(pipe.tokenizer, renders, real_features, features)
        report["models"][label] = entry
    report["comparisons"] = {}
    for name, (a, b) in COMPARISONS.items():
        if a in hits_of and b in hits_of:
            rise, spread = seed_difference(hits_of[a], hits_of[b])
            drops = np.subtract(fid_of[b], fid_of[a])
            report["comparisons"][name] = {
                "accuracy_rise": rise, "rise_seed_std": spread, "beyond_spread": bool(rise > spread),
                "fid_drop": round(report["models"][b]["fid"] - report["models"][a]["fid"], 3),
                "fid_drop_per_seed_mean": round(float(drops.mean()), 3), "fid_drop_seed_std": round(float(drops.std()), 3),
                "fid_beyond_spread": bool(drops.mean() > drops.std())}
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
