"""`gfx image ...`: text -> images, with the training-free controls."""

from __future__ import annotations

from pathlib import Path

import typer

from gfx.cli.app import image_app
from gfx.cli.common import UsageError, numbered_outputs, slug, user_errors
from gfx.image.controls import learned_controls, sampled_model


@image_app.command("generate")
def image_generate(
    prompt: str = typer.Argument(..., help='What to draw, e.g. "a large red circle to the left of a small blue star".'),
    n: int = typer.Option(1, "-n", help="How many images (independent samples)."),
    seed: int | None = typer.Option(None, help="Random seed: image i starts from the noise of seed + i."),
    tome: bool = typer.Option(False, "--tome", help="Bind each object's attributes to it (ToMe)."),
    set_size: int | None = typer.Option(None, "--set", min=1, help="Generate a coherent set of N images (T2IS)."),
    vary: list[str] | None = typer.Option(None, "--vary", help="A set with one image per --vary text, filling the "
                                          "prompt's {} or appended to it (T2IS); repeat the option."),
    same_noise: bool = typer.Option(False, "--same-noise", help="With --vary: every image of the set starts from "
                                    "the same noise, instead of sharing attention."),
    negative: str | None = typer.Option(None, "--negative", help="A negative prompt: what guidance steers away from."),
    negative_concept: Path | None = typer.Option(
        None, "--negative-concept", help="A learned concept to steer away from (Geom-Erasing; a directory written by "
        "gfx train geom-erasing, e.g. models/geom-erasing, whose fine-tuned pipeline is then sampled unless --model "
        "names another)."),
    concept: list[Path] | None = typer.Option(
        None, "--concept", help="A learned concept whose word the prompt may use (CoRe or textual inversion; a "
        "directory written by gfx image learn-concept); repeat the option for several."),
    style: Path | None = typer.Option(None, "--style", help="A reference image whose style to draw in "
                                      "(StyleTokenizer)."),
    style_model: Path | None = typer.Option(None, "--style-model", help="StyleTokenizer directory for --style "
                                            "(default: the shipped models/style-tokenizer)."),
    steps: int = typer.Option(25, min=1, help="Denoising steps."),
    guidance: float | None = typer.Option(None, help="Classifier-free guidance scale (1 = off; default: the "
                                          "model's, 3 where it names none)."),
    model: Path | None = typer.Option(None, help="Pipeline directory, or a named model: hita-mini, xar-mini "
                                      "(default: the shipped diffusion model)."),
    out: Path = typer.Option(Path("."), "-o", "--out", "--out-dir", help="A folder for <slug>-<i>.png, or OUT.png "
                             "(OUT-<i>.png for several)."),
) -> None:
    """Text -> images: writes a PNG per image and prints their paths."""
    import gfx.image
    from gfx.image.tome import ToMe

    with user_errors():
        if n < 1:
            raise UsageError("-n must be at least 1")
        if (set_size or vary) and n != 1:
            raise UsageError("-n makes independent samples; a set's size comes from --set N or the --vary texts")
        if set_size and vary and set_size != len(vary):
            raise UsageError(f"--set {set_size} but {len(vary)} --vary texts; give one or make them agree")
        if negative and (set_size or vary):
            raise UsageError("--negative applies to -n samples, not to sets (--set/--vary)")
        if same_noise and not vary:
            raise UsageError("--same-noise needs --vary texts: one prompt from one noise is one picture")
        controls = ([ToMe()] if tome else []) + learned_controls(negative_concept, concept or [], style, style_model)
        model = sampled_model(model, negative_concept)
        paths = numbered_outputs(out, slug(prompt, "image"), len(vary) if vary else set_size or n, ".png")
        if set_size or vary:
            sharing = {"same_noise": True, "shared_steps": 0} if same_noise else {}  # else: the default sharing
            results = gfx.image.generate_set(prompt, vary or [""] * set_size, seed=seed, controls=controls,
                                             model=model, steps=steps,
                                             guidance=guidance, **sharing)
        else:
            results = gfx.image.generate(prompt, n=n, seed=seed, controls=controls,
                                         model=model, steps=steps,
                                         guidance=guidance, negative_prompt=negative)
        for result, path in zip(results, paths, strict=True):
            typer.echo(str(result.save(path)))


@image_app.command("learn-concept")
def learn_concept(
    images: list[Path] = typer.Argument(..., help="4-8 images of the concept (PNG, JPEG, ...)."),
    token: str = typer.Option(..., "--token", help='The new word, in angle brackets, e.g. "<cross>".'),
    out_dir: Path = typer.Option(..., "-o", "--out-dir", help="Where learned_embeds.safetensors + concept.json go."),
    method: str = typer.Option("core", help="core (context-regularized) or textual-inversion."),
    init_word: str = typer.Option("star", "--init-word", help="An existing one-token word close to the concept: "
                                  "it starts the embedding (and fills CoRe's context prompts)."),
    steps: int = typer.Option(300, min=1, help="Optimizer steps."),
    identity_steps: int = typer.Option(0, "--identity-steps", min=0, help="CoRe's stage 2: steps of UNet "
                                       "fine-tuning on the images after the word (e.g. 1000; the concept then "
                                       "carries the UNet's weights, ~2 bytes per parameter). 0: the word only."),
    unet_window: tuple[float, float] = typer.Option((0.1, 1.0), "--unet-window", help="The fractions of the "
                                                    "denoising steps in which stage 2's UNet samples (the base lays "
                                                    "out the first tenth; 0 1: every step)."),
    seed: int = typer.Option(0, help="Random seed."),
    model: Path | None = typer.Option(None, help="Pipeline directory (default: the shipped model)."),
) -> None:
    """Learn a new word from a few images (CoRe or textual inversion); prints the output directory."""
    from gfx.image.core import ConceptConfig
    from gfx.image.pipeline import load_default, load_pipeline
    from gfx.recipes.concept import learn_concept as learn

    with user_errors():
        config = ConceptConfig(token, init_word, method, unet_window=tuple(unet_window))
        pipe = load_default(None) if model is None else load_pipeline(model)
        learned = learn(pipe, [str(p) for p in images], config, steps=steps, seed=seed,
                        identity_steps=identity_steps)
        typer.echo(str(learned.save(out_dir)))
