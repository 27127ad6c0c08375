"""`gfx image ...`: text -> images, with the training-free controls."""

from __future__ import annotations

from pathlib import Path

import typer

from gfx.cli.app import image_app
from gfx.cli.common import UsageError, slug, user_errors


@image_app.command("generate")
def image_generate(
    prompt: str = typer.Argument(..., help='What to draw, e.g. "a large red circle to the left of a small blue star".'),
    n: int = typer.Option(1, "-n", help="How many images (independent samples)."),
    seed: int | None = typer.Option(None, help="Random seed: image i starts from the noise of seed + i."),
    tome: bool = typer.Option(False, "--tome", help="Bind each object's attributes to it (ToMe)."),
    set_size: int | None = typer.Option(None, "--set", min=1, help="Generate a coherent set of N images (T2IS)."),
    vary: list[str] | None = typer.Option(None, "--vary", help="A set with one image per --vary text, filling the "
                                          "prompt's {} or appended to it (T2IS); repeat the option."),
    negative: str | None = typer.Option(None, "--negative", help="A negative prompt: what guidance steers away from."),
    negative_concept: Path | None = typer.Option(
        None, "--negative-concept", help="A learned concept to steer away from (Geom-Erasing; a directory written by "
        "gfx train geom-erasing)."),
    steps: int = typer.Option(25, min=1, help="Denoising steps."),
    guidance: float = typer.Option(3.0, help="Classifier-free guidance scale (1 = off)."),
    model: Path | None = typer.Option(None, help="Pipeline directory, or a named model: hita-mini, xar-mini "
                                      "(default: the shipped diffusion model)."),
    out_dir: Path = typer.Option(Path("."), "-o", "--out-dir", help="Where OUTDIR/<slug>-<i>.png go."),
) -> None:
    """Text -> images: writes a PNG per image and prints their paths."""
    import gfx.image
    from gfx.image.geom_erasing import GeomErasing
    from gfx.image.tome import ToMe

    with user_errors():
        if n < 1:
            raise UsageError("-n must be at least 1")
        if (set_size or vary) and n != 1:
            raise UsageError("-n makes independent samples; a set's size comes from --set N or the --vary texts")
        if set_size and vary and set_size != len(vary):
            raise UsageError(f"--set {set_size} but {len(vary)} --vary texts; give one or make them agree")
        controls = ([ToMe()] if tome else []) + ([GeomErasing(negative_concept)] if negative_concept else [])
        if set_size or vary:
            if negative:
                raise UsageError("--negative applies to -n samples, not to sets (--set/--vary)")
            results = gfx.image.generate_set(prompt, vary or [""] * set_size, seed=seed, controls=controls,
                                             model=None if model is None else str(model), steps=steps,
                                             guidance=guidance)
        else:
            results = gfx.image.generate(prompt, n=n, seed=seed, controls=controls,
                                         model=None if model is None else str(model), steps=steps,
                                         guidance=guidance, negative_prompt=negative)
        out_dir.mkdir(parents=True, exist_ok=True)
        for i, result in enumerate(results):
            typer.echo(str(result.save(out_dir / f"{slug(prompt, 'image')}-{i}.png")))
