"""What the studio's "Text -> image" tab does, without gradio: pick a model (`image_models`: diffusion, Hita, xAR),
generate with the controls, and show per word where a diffusion model looked (cross-attention maps), so a person can
see what ToMe changed. The autoregressive models take none of the UNet's controls (`takes_unet_controls`).

Inputs are checked with `gfx.apps.studio_handlers`'s checks and refused with its `StudioInputError`.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gfx.apps.studio_handlers import StudioInputError, check_count, check_prompt, check_seed
from gfx.image.controls import holds_erasing

MAX_IMAGES = 8
SHOWN_SIZE = 256
"""Generated images and attention maps are shown this many pixels wide (the model draws 64 px)."""
IMAGE_EXAMPLES = [
    ["a large red circle to the left of a small blue star", 4, "0", True, ""],
    ["a large green heart, a large yellow square and a large purple triangle", 4, "1", True, ""],
    ["a large striped {}", 1, "2", False, "circle\nstar\nheart"],
]
"""Text -> image examples: prompt, images, seed, ToMe, set variations (one per line)."""


@dataclass(frozen=True)
class ImageOutput:
    """Generated images with the first image's attention per word.

    Attributes:
        images: (PNG path, caption) per image.
        attention: (PNG path, word) per word of the prompt: the first image with its map laid over it.
        status: one line: how many images, controls, seed, seconds.
    """

    images: list[tuple[str, str]]
    attention: list[tuple[str, str]]
    status: str


MODEL_KINDS = {"ShapesDiffusionPipeline": "diffusion", "HitaPipeline": "Hita, autoregressive",
               "XARPipeline": "xAR, autoregressive"}
"""Saved pipeline class -> what the model picker calls it; the directories of `gfx.models.MODELS_DIR` holding one
of these are the text -> image models the studio offers."""
UNET_CONTROLS = "ToMe, sets (T2IS), learned concepts, style references and attention maps"
"""What only a diffusion model (its UNet's cross-attention) can do."""


def image_models(model_dir: str | None = None) -> dict[str, str]:
    """Label -> directory of each text -> image model there is: `model_dir` (if it holds a pipeline) first, then the
    shipped default, then the other pipelines under `gfx.models.MODELS_DIR` (`MODEL_KINDS`), by name."""
    from gfx.checkpoint import saved_class
    from gfx.models import MODELS_DIR, SHIPPED

    def label(directory: Path, name: str) -> str:
        return f"{name} ({MODEL_KINDS.get(saved_class(directory), 'diffusion')})"

    models = {}  # resolved directory -> (label, directory): each model once
    if model_dir and Path(model_dir, "model_index.json").is_file():
        models[Path(model_dir).resolve()] = (label(Path(model_dir), model_dir), model_dir)
    if MODELS_DIR.is_dir():
        default = SHIPPED.get("shapes-diffusion")
        for directory in sorted(MODELS_DIR.iterdir(), key=lambda d: (d.name != default, d.name)):
            if saved_class(directory) in MODEL_KINDS:
                models.setdefault(directory.resolve(), (label(directory, directory.name), str(directory)))
    return dict(models.values())


def image_model_available(model_dir: str | None) -> bool:
    """True when there is a text -> image model to serve: `model_dir`, or one under `gfx.models.MODELS_DIR`."""
    return bool(image_models(model_dir))


def takes_unet_controls(model_dir: str | None) -> bool:
    """Whether the model in `model_dir` (None: the shipped one) is a diffusion model, which `UNET_CONTROLS` need;
    the autoregressive ones (Hita, xAR) take none."""
    from gfx.checkpoint import saved_class
    from gfx.image.pipeline import AR_PIPELINES

    return not model_dir or saved_class(model_dir) not in AR_PIPELINES


def model_note(model_dir: str | None) -> str:
    """What the picker says under a model: "" for a diffusion model, else which controls it cannot run."""
    if takes_unet_controls(model_dir):
        return ""
    return f"{Path(model_dir).name} is autoregressive: {UNET_CONTROLS} need a diffusion model's UNet."


def check_variations(text: str | None) -> list[str]:
    """One variation per non-empty line (a set), or [] (independent images)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_IMAGES:
        raise StudioInputError(f"a set has at most {MAX_IMAGES} images; got {len(lines)} lines")
    return lines


def _shown(pixels: np.ndarray, path: Path) -> str:
    from PIL import Image

    Image.fromarray(pixels).resize((SHOWN_SIZE, SHOWN_SIZE), Image.Resampling.NEAREST).save(path)
    return str(path)


def word_maps(tokenizer, prompt: str, maps) -> list[tuple[str, np.ndarray]]:
    """(word, (h, w) map in [0, 1]) per word of `prompt`, from one image's (HW, T) attention (its tokens summed)."""
    from gfx.image.phrases import prompt_words
    from gfx.image.prompt_ops import word_positions

    side = int(round(maps.shape[0] ** 0.5))
    out = []
    for word, positions in zip(prompt_words(prompt), word_positions(tokenizer, prompt), strict=True):
        grid = maps[:, list(positions)].sum(-1).reshape(side, side).float().numpy()
        span = grid.max() - grid.min()
        out.append((word, (grid - grid.min()) / span if span > 0 else np.zeros_like(grid)))
    return out


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8: `image` dimmed, with `heat` ((h, w) in [0, 1], upsampled) in red on top."""
    from PIL import Image

    side = image.shape[0]
    heat = np.asarray(Image.fromarray((heat * 255).astype(np.uint8)).resize((side, side), Image.Resampling.BILINEAR),
                      np.float32)[..., None] / 255
    red = np.asarray([255, 40, 40], np.float32)
    return (image * (0.35 + 0.25 * (1 - heat)) + red * 0.65 * heat).clip(0, 255).astype(np.uint8)


def learned(concept_dir: str | None, style_image, style_model: str | None) -> list:
    """The CoRe concept and StyleTokenizer controls of the tab's inputs, refused with a short message."""
    from gfx.image.controls import learned_controls

    concept_dir = (concept_dir or "").strip() or None
    try:
        return learned_controls(concepts=[concept_dir] if concept_dir else [], style=style_image,
                                style_model=style_model)
    except (FileNotFoundError, ValueError) as error:
        raise StudioInputError(str(error)) from None


def generate_images(prompt, n, seed, tome, variations, concept_dir=None, style_image=None, erase=False, *,
                    model_dir: str | None, work_dir: str | os.PathLike,
                    style_model: str | None = None) -> ImageOutput:
    """Text -> images (`gfx.image.generate`, or a T2IS set with `variations`) with the attention of each word.

    Args:
        prompt: required; with `variations`, "{}" marks where each one goes (else they are appended).
        tome: apply ToMe (token merging for attribute binding).
        variations: one per line: a coherent set, one image per line (n is then ignored).
        concept_dir: a learned concept (CoRe / textual inversion) whose word the prompt may use.
        style_image: (H, W, 3) uint8 reference whose style to draw in (StyleTokenizer, `style_model` or the
            shipped one); its style words are not shown among the attention maps.
        erase: steer away from the implicit concept the model learned to name (Geom-Erasing; a model that holds
            one, e.g. geom-erasing).
        model_dir: a text -> image pipeline (`image_models`), None: the shipped one; an autoregressive one (Hita,
            xAR) refuses tome, variations, concept_dir and style_image, and shows no attention maps.
    """
    import gfx.image
    from gfx.image.attention import AttentionCapture
    from gfx.image.geom_erasing import GeomErasing
    from gfx.image.pipeline import load_default
    from gfx.image.tome import ToMe

    prompt, n, seed = check_prompt(prompt, required=True), check_count(n, MAX_IMAGES), check_seed(seed)
    variations = check_variations(variations)
    unet = takes_unet_controls(model_dir)
    if not unet:
        given = {"ToMe": tome, "a set": variations, "a learned concept": (concept_dir or "").strip(),
                 "a style reference": style_image is not None, "Geom-Erasing": erase}
        if asked := [name for name, value in given.items() if value]:
            raise StudioInputError(f"{Path(model_dir).name} is autoregressive and takes no diffusion controls "
                                   f"({', '.join(asked)}); pick a diffusion model or leave them out")
    if erase and not holds_erasing(model_dir):
        raise StudioInputError("Geom-Erasing needs a model that learned a concept to avoid: pick geom-erasing "
                               "(gfx train geom-erasing) or leave it off")
    capture, controls = AttentionCapture(), []
    if unet:
        controls = learned(concept_dir, style_image, style_model) + ([ToMe(), capture] if tome else [capture])
        controls = ([GeomErasing(model_dir)] if erase else []) + controls
    start = time.perf_counter()
    if variations:
        results = gfx.image.generate_set(prompt, variations, seed=seed, controls=controls, model=model_dir)
    else:
        results = gfx.image.generate(prompt, n=n, seed=seed, controls=controls, model=model_dir)
    seconds = time.perf_counter() - start
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix="images-", dir=work_dir))
    images = [(_shown(r.image, out_dir / f"image-{i}.png"), f"#{i} · {r.prompt}") for i, r in enumerate(results)]
    shown_maps = unet and style_image is None
    maps = word_maps(load_default(model_dir).tokenizer, results[0].prompt, capture.maps[0]) if shown_maps else []
    attention = [(_shown(overlay(results[0].image, heat), out_dir / f"attention-{k}.png"), word)
                 for k, (word, heat) in enumerate(maps)]
    what = ("a set of " if variations else "") + f"{len(results)} image(s)" + (" with ToMe" if tome else "")
    what += " in the reference's style" if style_image is not None else ""
    what += ", steering away from its learned concept" if erase else ""
    what += "" if model_dir is None else f" by {Path(model_dir).name}"
    return ImageOutput(images, attention, f"{what} in {seconds:.1f} s (seed {seed})")
