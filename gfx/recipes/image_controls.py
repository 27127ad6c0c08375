"""`gfx eval image-controls`: the learned controls on a text -> image model, each with and without, on held-out
world prompts and the same seeds, measured by the 2D world's detectors.

    gfx eval image-controls --split test [--limit N] [--model DIR] [--negative-concept DIR]
        [--concept DIR --baseline-concept DIR] [--style-model DIR]

A section runs for each control given (none given: each shipped one; the base model must be shipped or given).
Sections (issue 20):
1. geom_erasing: the implicit-concept rate, the share of images where `detect_mark` finds the corner mark, on world
   captions drawn from the split's own random stream (the training draws from seed 0's), with and without
   `GeomErasing`; per seed, and the drop against its spread over seeds. No loss elsewhere: the quality gate of
   `gfx eval image` (single objects: shape and colour; two objects: both shapes) with and without, on the same
   prompts and seeds; each may fall by at most `MAX_QUALITY_LOSS`. FID on the world's own features
   (models/world-features, as `gfx eval image-ar`) of the captions' images with and without, against renders of
   other scenes of the split (unmarked); without that extractor the section says how to train it. For data
   removal (a fine-tuned pipeline) `erasing_baseline` names the original model: "without" is then that model, as
   the paper compares, and "with" the fine-tuned one with `GeomErasing`.
2. concept: CoRe against textual inversion (each learned on the same images and steps) in context prompts
   (`CONCEPT_CONTEXTS`: "a <cross> above a blue circle", "three <cross>s", ...): identity, the share of images
   where the detector, told the world's novel shapes, finds the concept's shape; alignment, the share where the
   context holds (a blue circle drawn, three objects, ...); both; per seed.
3. style: StyleTokenizer. Content prompts ("a large red circle") each with a reference image of a drawn style
   (outlined, striped, dotted) showing other shapes; three conditions on the same seeds: the style words of the
   reference, the style said in words ("a large striped red circle"), no style. Style match: the detector reads
   the reference's style; content leak: a shape of the reference that the prompt does not ask for is drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gfx.data.shapes2d.detect import detect
from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import NOVEL_SHAPES, SHAPES, STYLES, Scene, caption, sample_scene
from gfx.image.controls import holds_erasing
from gfx.recipes.image_eval import (
    Evaluator,
    distinct_objects,
    evaluated_pipeline,
    features_missing,
    has_objects,
    quality_gate,
    seed_accuracy,
    seed_difference,
    split_seed,
    world_feature_net,
    world_fid,
)

DEFAULT_COUNTS = {"captions": 30, "single": 30, "pairs": 20, "contexts": 7, "styles": 24, "real": 400}
MAX_QUALITY_LOSS = 0.05
"""The most a control may cost a quality measure (5 points, issue 20)."""
DEFAULT_MODELS = {"negative_concept": "geom-erasing", "concept": "core-concept",
                  "baseline_concept": "textual-inversion-concept", "style_model": "style-tokenizer"}
"""Each control's default directory under `gfx.models.MODELS_DIR`."""
CONCEPT_CONTEXTS = (
    ("a {} above a blue circle", lambda d: has_objects(d, [("circle", "blue")])),
    ("three {}s", lambda d: d.count == 3),
    ("a red {}", lambda d: any(o.color == "red" for o in d.objects)),
    ("a {} on a dark background", lambda d: d.palette == "dark"),
    ("a large striped {}", lambda d: d.style == "striped"),
    ("a {} to the left of a small yellow heart", lambda d: has_objects(d, [("heart", "yellow")])),
    ("a green {} at the top left", lambda d: any(o.color == "green" and o.cell == (0, 0) for o in d.objects)),
)
"""Held-out context prompts ("{}": the concept's word) and what each asks of a detection besides the concept."""


def erasing_fid(images: dict[str, list], features, rng: np.random.Generator, count: int) -> dict:
    """FID of {"without": images, "with": images} against `count` renders of world scenes from `rng`, on the
    world's features (`features`: a `WorldFeatureNet`, or None: say how to train it)."""
    from gfx.image.world_features import world_features

    if features is None:
        return {"missing": features_missing()}
    real = world_features([render(sample_scene(rng)) for _ in range(count)], features)
    fid = {name: world_fid(found, real, features) for name, found in images.items()}
    return {**fid, "change": round(fid["with"] - fid["without"], 3), "real_images": count,
            "feature_extractor": f"the penultimate layer of the world-features CNN ({features.config.feature_dim}-d)"}


def geom_erasing(pipe, concept: str | Path, base: int, counts: dict, seeds: int, steps: int, guidance: float,
                 progress: Callable | None, features=None, baseline=None) -> dict:
    """The Geom-Erasing section of the report (module docstring); `features`: the FID extractor or None;
    `baseline`: the pipeline sampled without the control (default `pipe`)."""
    from gfx.image.geom_erasing import GeomErasing

    control = GeomErasing(concept)
    without = Evaluator(pipe if baseline is None else baseline, seeds, base, steps, guidance, progress, keep_images=True)
    with_erasing = Evaluator(pipe, seeds, base, steps, guidance, progress, controls=lambda: [control],
                             keep_images=True)
    rng = np.random.default_rng(base)
    prompts = [(caption(sample_scene(rng), rng),) for _ in range(counts["captions"])]

    def marked(item, found) -> bool:
        return found.mark is not None

    rates = {"without": without.hits(prompts, "erasing off: marks", marked),
             "with": with_erasing.hits(prompts, "erasing on: marks", marked)}
    fid = erasing_fid({"without": without.images, "with": with_erasing.images}, features, rng, counts["real"])
    rise, spread = seed_difference(rates["with"], rates["without"])
    quality = {name: quality_gate(ev, np.random.default_rng(base + 1), counts["single"], counts["pairs"])
               for name, ev in (("without", without), ("with", with_erasing))}
    change = {k: round(quality["with"][k] - quality["without"][k], 4) for k in ("single_object", "two_objects")}
    return {
        "concept": str(concept), "negative_prompt": control.concept_text(pipe), "scale": control.scale,
        "window": control.window, "region": control.region,
        "prompts": len(prompts),
        "concept_rate": {**{k: seed_accuracy(v, "rate") for k, v in rates.items()},
                         "drop": round(-rise, 4), "drop_seed_std": spread, "beyond_spread": bool(-rise > spread)},
        "quality": {**{k: {m: v[m] for m in change} for k, v in quality.items()}, "change": change,
                    "within_limit": all(c >= -MAX_QUALITY_LOSS for c in change.values())},
        "fid": fid,
    }


def concept_labels(directories: Sequence[str | Path]) -> dict[str, str | Path]:
    """{label: directory} of learned concepts, labelled by method ("core", "textual-inversion"); a second concept
    of the same method (a retrained one beside the shipped baseline) is labelled by its folder too; a directory
    given twice (a concept that is also the default baseline) counts once."""
    from gfx.image.core import LearnedConcept

    labels, seen = {}, set()
    for directory in directories:
        if Path(directory).resolve() in seen:
            continue
        seen.add(Path(directory).resolve())
        method = LearnedConcept.load(directory).config.method
        labels[method if method not in labels else f"{method} ({Path(directory).name})"] = directory
    return labels


def concept_section(pipe, concepts: dict, base: int, count: int, seeds: int, steps: int, guidance: float,
                    progress: Callable | None, shape: str = NOVEL_SHAPES[0]) -> dict:
    """The concept section (module docstring); `concepts`: {label: learned-concept directory}."""
    from gfx.image.core import Concept

    contexts = CONCEPT_CONTEXTS[:count]
    methods = {}
    for label, directory in concepts.items():
        control = Concept(directory)
        prompts = [(template.format(control.token), check) for template, check in contexts]
        found = [[detect(r.image, SHAPES + NOVEL_SHAPES) for r in pipe(p, n=seeds, seed=base, steps=steps,
                                                                       guidance=guidance, controls=[control])]
                 for p, _ in prompts]
        identity = np.asarray([[any(o.shape == shape for o in d.objects) for d in row] for row in found])
        aligned = np.asarray([[check(d) for d in row] for (_, check), row in zip(prompts, found, strict=True)])
        methods[label] = {"directory": str(directory), "identity": seed_accuracy(identity, "rate"),
                          "alignment": seed_accuracy(aligned, "rate"), "both": seed_accuracy(identity & aligned, "rate")}
        if progress:
            progress(1, 1, f"concept: {label}")
    return {"shape": shape, "prompts": len(contexts), "templates": [t for t, _ in contexts], "methods": methods}


def style_cases(rng: np.random.Generator, count: int) -> list[tuple[str, str, str, np.ndarray, set[str]]]:
    """(content prompt, prompt with the style said, style, reference image, the reference's shapes) per case: a
    large object, and a reference of two large objects of other shapes in a drawn style (cycled)."""
    cases = []
    for k in range(count):
        style = STYLES[1 + k % (len(STYLES) - 1)]
        target, *others = distinct_objects(rng, 3, [(1, 1), (0, 0), (2, 2)])
        reference = render(Scene(tuple(others), style=style))
        said = f"a large {style} {target.color} {target.shape}"
        cases.append((f"a large {target.color} {target.shape}", said, style, reference, {o.shape for o in others}))
    return cases


def style_section(pipe, style_model, base: int, count: int, seeds: int, steps: int, guidance: float,
                  progress: Callable | None) -> dict:
    """The style section (module docstring)."""
    from gfx.image.style_tokenizer import Style, load_style_tokenizer

    model = load_style_tokenizer(style_model)
    cases = style_cases(np.random.default_rng(base + 2), count)
    conditions = {"style tokens": lambda case: (case[0], [Style(model, case[3])]),
                  "style in words": lambda case: (case[1], []), "no style": lambda case: (case[0], [])}
    report = {}
    for name, condition in conditions.items():
        match, leak = [], []
        for k, case in enumerate(cases):
            prompt, controls = condition(case)
            found = [detect(r.image) for r in pipe(prompt, n=seeds, seed=base, steps=steps, guidance=guidance,
                                                   controls=controls)]
            match.append([d.style == case[2] for d in found])
            leak.append([any(o.shape in case[4] for o in d.objects) for d in found])
            if progress:
                progress(k + 1, len(cases), f"style: {name}")
        report[name] = {"style_match": seed_accuracy(np.asarray(match), "rate"),
                        "content_leak": seed_accuracy(np.asarray(leak), "rate")}
    return {"model": str(style_model), "prompts": len(cases), "conditions": report}


def chosen_controls(given: dict) -> dict:
    """{argument: directory} of the controls to evaluate: those given, else every shipped one."""
    from gfx.models import MODELS_DIR

    chosen = {k: v for k, v in given.items() if v is not None}
    if chosen.keys() & {"concept", "baseline_concept"}:  # a method needs its baseline beside it (or alone)
        for k in ("concept", "baseline_concept"):
            if k not in chosen and (MODELS_DIR / DEFAULT_MODELS[k]).is_dir():
                chosen[k] = MODELS_DIR / DEFAULT_MODELS[k]
    if not chosen:
        chosen = {k: MODELS_DIR / name for k, name in DEFAULT_MODELS.items() if (MODELS_DIR / name).is_dir()}
    if not chosen:
        raise FileNotFoundError("no control to evaluate: pass --negative-concept, --concept/--baseline-concept or "
                                "--style-model DIR, or train them (gfx train geom-erasing | core-concept | "
                                "textual-inversion | style-tokenizer)")
    return chosen


def evaluate_image_controls(split: str | None = "test", limit: int = 0, progress: Callable | None = None, *,
                            model=None, negative_concept: str | Path | None = None, concept: str | Path | None = None,
                            baseline_concept: str | Path | None = None, style_model: str | Path | None = None,
                            erasing_baseline: str | Path | None = None,
                            seeds: int = 4, steps: int = 25, guidance: float | None = None, features=None) -> dict:
    """The report of the module docstring, JSON-ready.

    Args:
        split: "val" or "test" (or None): which seeds draw the prompts and the initial noise.
        limit: at most this many prompts per measure (0: the defaults).
        model: a pipeline, or a `ShapesDiffusionPipeline` directory (default: the shipped model).
        negative_concept: a Geom-Erasing directory; concept, baseline_concept: learned concepts (CoRe, textual
            inversion); style_model: a StyleTokenizer directory. None given: the shipped ones.
        seeds: images per prompt (seeds base, base + 1, ...).
        features: the `WorldFeatureNet` of Geom-Erasing's FID (default: models/world-features, when there).
        erasing_baseline: the model Geom-Erasing's "without" samples (a data-removal concept's original model);
            None: `model`. With no `model` given, a data-removal concept (a pipeline directory) samples "with"
            itself, against the shipped model.
    """
    import torch

    from gfx.image.denoise import resolved_guidance

    base = split_seed(split)
    controls = chosen_controls({"negative_concept": negative_concept, "concept": concept,
                                "baseline_concept": baseline_concept, "style_model": style_model})
    started = time.perf_counter()
    counts = {k: min(v, (10 if k == "real" else 1) * limit) if limit else v for k, v in DEFAULT_COUNTS.items()}
    pipe, label = evaluated_pipeline(model)
    guidance = resolved_guidance(pipe, guidance)
    report = {"split": split, "model": label, "seeds": seeds, "steps": steps, "guidance": guidance}
    torch.manual_seed(base)
    if "negative_concept" in controls:
        concept = controls["negative_concept"]
        tuned, baseline, without = pipe, None, None
        if model is None and holds_erasing(concept):  # data removal: its own pipeline, against the shipped one
            tuned, baseline, without = evaluated_pipeline(concept)[0], pipe, label
        if erasing_baseline is not None:
            baseline, without = evaluated_pipeline(erasing_baseline)[0], erasing_baseline
        report["geom_erasing"] = geom_erasing(tuned, concept, base, counts, seeds, steps, guidance, progress,
                                              world_feature_net(features), baseline)
        if without is not None:
            report["geom_erasing"]["without_model"] = str(without)
    concepts = concept_labels([controls[k] for k in ("concept", "baseline_concept") if k in controls])
    if concepts:
        report["concept"] = concept_section(pipe, concepts, base, counts["contexts"], seeds, steps, guidance,
                                            progress)
    if "style_model" in controls:
        report["style"] = style_section(pipe, controls["style_model"], base, counts["styles"], seeds, steps,
                                        guidance, progress)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
