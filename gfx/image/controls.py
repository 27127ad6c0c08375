"""The learned controls by the names the surfaces give them (CLI flags, job fields, studio inputs), built once
here so that `gfx image generate`, the generate-image job kind and the studio agree.

    controls = learned_controls(negative_concept="models/geom-erasing", concepts=["out/cross"],
                                style="reference.png")     # [GeomErasing, Concept, Style]
    model = sampled_model(model, negative_concept)           # a data-removal concept brings its own pipeline
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

STYLE_MODEL = "style-tokenizer"
"""The shipped StyleTokenizer's directory under `gfx.models.MODELS_DIR`."""


def learned_controls(negative_concept: str | Path | None = None, concepts: Sequence[str | Path] = (),
                     style=None, style_model: str | Path | None = None) -> list:
    """Geom-Erasing away from `negative_concept`, the words of `concepts` (CoRe / textual inversion directories),
    and the style of the reference `style` (an image file, its bytes or an (H, W, 3) array) through `style_model`
    (default: the shipped StyleTokenizer)."""
    controls = []
    if negative_concept:
        from gfx.image.geom_erasing import GeomErasing

        controls.append(GeomErasing(negative_concept))
    if concepts:
        from gfx.image.core import Concept

        controls += [Concept(c) for c in concepts]
    if style is not None:
        from gfx.image.style_tokenizer import Style

        if style_model is None:
            from gfx.models import MODELS_DIR

            style_model = MODELS_DIR / STYLE_MODEL
        controls.append(Style(style_model, style))
    elif style_model is not None:
        raise ValueError("a style model needs a reference image (--style REF.png)")
    return controls


def sampled_model(model: str | Path | None, negative_concept: str | Path | None) -> str | None:
    """The model to sample: `model` when given, else the pipeline a data-removal Geom-Erasing directory holds (its
    words were learned with that fine-tuned UNet), else None (the shipped default)."""
    if model is not None:
        return str(model)
    return str(negative_concept) if holds_erasing(negative_concept) else None


def holds_erasing(directory: str | Path | None) -> bool:
    """True when `directory` is a pipeline with a learned Geom-Erasing concept in it (data removal)."""
    return bool(directory) and all(Path(directory, name).is_file() for name in ("model_index.json",
                                                                                  "geom_erasing.json"))
