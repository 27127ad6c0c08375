"""`gfx svg ...`: normalize, render, tokenize, generate, edit, vectorize, scene, describe."""

from __future__ import annotations

from pathlib import Path

import typer

from gfx.cli.app import svg_app
from gfx.cli.common import (
    UsageError,
    choices,
    colour_or_none,
    numbered_outputs,
    read_input,
    slug,
    user_errors,
)
from gfx.svg.icon_style import ANY_STYLE, STYLES, style_from_name
from gfx.svg.scene_compose import MODES as SCENE_MODES
from gfx.svg.tokenizers.registry import TOKENIZERS
from gfx.svg.vectorization.vectorizer import METHODS

Scheme = choices("Scheme", TOKENIZERS)
VectorizeMethod = choices("VectorizeMethod", METHODS)
IconStyle = choices("IconStyle", (*STYLES, ANY_STYLE))
SceneMode = choices("SceneMode", SCENE_MODES)
STYLE_HELP = "Drawing style of new paths: outline (strokes of the corpus width, no fills), filled, or any."


@svg_app.command("normalize")
def svg_normalize(
    source: Path = typer.Argument(..., help="Input SVG file."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Output SVG (default: stdout)."),
    keep_primitives: bool = typer.Option(False, help="Keep circles, rects, ... instead of converting to paths."),
) -> None:
    """Normalize an SVG: flatten groups and transforms, convert to M/L/C/Z paths, fit a 24-unit viewBox."""
    from gfx.files import write_text
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.serialize import to_svg

    with user_errors():
        text = to_svg(normalize(parse_svg(read_input(source), source=str(source)), to_paths=not keep_primitives))
        if output is None:
            typer.echo(text, nl=False)
        else:
            write_text(output, text)
            typer.echo(str(output))


@svg_app.command("render")
def svg_render(
    source: Path = typer.Argument(..., help="Input SVG file."),
    output: Path = typer.Option(None, "-o", "--output", help="Output PNG (default: IN with .png)."),
    size: int = typer.Option(128, help="Side of the square image in pixels."),
    background: str = typer.Option("white", metavar="[white|black|none|COLOUR]", callback=colour_or_none,
                                   help="Background: a CSS colour (white, #336699, ...) or none for transparency."),
) -> None:
    """Render an SVG to a PNG with cairosvg."""
    from gfx.svg.core.render import render, save_png

    with user_errors():
        image = render(read_input(source), size=size, background=None if background == "none" else background)
        output = output or source.with_suffix(".png")
        save_png(image, output)
        typer.echo(str(output))


@svg_app.command("tokenize")
def svg_tokenize(
    source: Path = typer.Argument(..., help="Input SVG file."),
    scheme: Scheme = typer.Option("path", help="Tokenizer scheme: path (IconShop) or semantic (LLM4SVG)."),
    decode: bool = typer.Option(False, "--decode", help="Decode the tokens back to SVG and write it to -o."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Where --decode writes the round-trip SVG."),
    ids: bool = typer.Option(False, "--ids", help="Print token ids instead of token strings."),
) -> None:
    """Print the token sequence of an SVG (normalized first)."""
    from gfx.files import write_text
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.serialize import to_svg

    scheme = scheme.value
    with user_errors():
        if decode and output is None:
            raise UsageError("--decode needs -o OUT.svg")
        tokenizer = TOKENIZERS[scheme]()
        document = normalize(parse_svg(read_input(source), source=str(source)), to_paths=scheme == "path")
        tokens = tokenizer.encode(document)
        typer.echo(" ".join(map(str, tokens)) if ids else " ".join(tokenizer.token_strings(tokens)))
        if decode:
            write_text(output, to_svg(tokenizer.decode(tokens)))
            typer.echo(f"{len(tokens)} tokens; decoded SVG written to {output}", err=True)



def _write_results(results, svg_paths: list[Path]) -> None:
    from gfx.svg.core.render import save_png

    for result, svg_path in zip(results, svg_paths, strict=True):
        png_path = svg_path.with_suffix(".png")
        result.save(svg_path)
        save_png(result.render(256), png_path)
        typer.echo(f"{svg_path}\n{png_path}")


@svg_app.command("generate")
def svg_generate(
    prompt: str = typer.Argument(..., help='What to draw, e.g. "house, home" ("" = anything).'),
    n: int = typer.Option(1, "-n", help="How many icons."),
    seed: int | None = typer.Option(None, help="Random seed (same seed, same icons)."),
    guidance: float | None = typer.Option(None, help="Classifier-free guidance scale (default: the model's)."),
    model: Path | None = typer.Option(None, help="IconShop checkpoint directory (default: the shipped one), or an "
                                      "LLM4SVG model / local transformers causal-LM directory."),
    style: IconStyle = typer.Option("outline", help=STYLE_HELP + " IconShop models only."),
    candidates: int | None = typer.Option(
        None, min=1, help="Samples per icon the model's reranker picks from (default: the model's, 8 for the shipped "
        "one; 1 = one plain sample, faster). IconShop models only."),
    consensus: float | None = typer.Option(
        None, min=0.0, help="Weight of the candidates' agreement in choosing among them (default: the model's, 0.5 "
        "for the shipped one; 0 = the reranker alone). IconShop models only."),
    out: Path = typer.Option(Path("."), "-o", "--out", "--out-dir", help="A folder for <slug>-<i>.svg/.png, or "
                             "OUT.svg (with OUT.png; OUT-<i>.svg for several)."),
) -> None:
    """Text -> icons: writes an SVG and a PNG per icon and prints their paths."""
    import gfx

    with user_errors():
        if n < 1:
            raise UsageError("-n must be at least 1")
        paths = numbered_outputs(out, slug(prompt, "icon"), n, ".svg")
        results = gfx.svg.generate(prompt, n=n, seed=seed, guidance=guidance, model=model,
                                   style=style_from_name(style.value), candidates=candidates, consensus=consensus)
        _write_results(results, paths)


@svg_app.command("edit")
def svg_edit(
    source: Path = typer.Argument(..., help="The SVG to edit (any SVG; it is normalized first)."),
    instruction: str | None = typer.Argument(
        None, help='What to change, e.g. "make it red" (LLM4SVG). Leave it out when you give --keep.'),
    output: Path = typer.Option(..., "-o", "--output", help="Output SVG."),
    keep: str | None = typer.Option(
        None, help="Instead of an INSTRUCTION: comma-separated indices of the paths to keep, e.g. 0,1; IconShop "
        "regenerates the others."),
    prompt: str = typer.Option("", help="With --keep: what the regenerated paths should depict."),
    seed: int | None = typer.Option(None, help="Random seed."),
    model: Path | None = typer.Option(
        None, help="With an INSTRUCTION: an LLM4SVG model or local transformers causal-LM directory; with --keep: an "
        "IconShop checkpoint directory (default: the shipped one)."),
    style: IconStyle | None = typer.Option(None, help=STYLE_HELP + " With --keep only (default: outline)."),
) -> None:
    """Edit an SVG as told with LLM4SVG (`gfx svg edit IN.svg "make it red" -o OUT.svg`; the shipped model has not
    learned edits yet), or keep some of its paths and regenerate the others with IconShop (`--keep 0,1`)."""
    import gfx
    from gfx.svg.core.parse import parse_svg

    with user_errors():
        if instruction is None and keep is None:
            raise UsageError('say what to change (gfx svg edit IN.svg "make it red" -o OUT.svg) or which paths to '
                             "keep (--keep 0,1)")
        if instruction is not None and keep is not None:
            raise UsageError("give an INSTRUCTION or --keep, not both")
        if instruction is not None and (prompt or style is not None):
            raise UsageError("--prompt and --style go with --keep; an INSTRUCTION says what to change")
        data = read_input(source)
        if instruction is not None:
            result = gfx.svg.edit(parse_svg(data, source=str(source)), instruction, seed=seed, model=model)
        else:
            result = _keep_paths(data.decode("utf-8", errors="replace"), keep, prompt, seed, model,
                                 style_from_name(style.value if style else "outline"))
        result.save(output)
        typer.echo(str(output))


def _keep_paths(svg: str, keep: str, prompt: str, seed: int | None, model: Path | None, style: str | None):
    """IconShop's edit: keep the paths at the indices in `keep` ("0,1") and regenerate the others."""
    from gfx.svg.iconshop import load_default

    try:
        indices = [int(k) for k in keep.split(",") if k.strip()]
    except ValueError:
        raise UsageError(f"--keep must be comma-separated path indices like 0,1, not {keep!r}") from None
    [result] = load_default(None if model is None else str(model)).edit(svg, keep=indices, prompt=prompt, seed=seed,
                                                                        style=style)
    return result


@svg_app.command("vectorize")
def svg_vectorize(
    source: Path = typer.Argument(..., help="Input image (PNG, JPEG, ...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output SVG."),
    method: VectorizeMethod = typer.Option(
        "centerline+refine", help="How to trace: the centerline or neural (StarVector) model, optionally refined "
        "against the image, or a classical tracer (potrace needs its binary)."
    ),
    model: Path | None = typer.Option(None, help="StarVector checkpoint directory (default: the shipped one)."),
    seed: int = typer.Option(0, help="Random seed of the neural methods."),
    size: int = typer.Option(1024, min=16, max=4096, help="Trace at the image's resolution up to this long side (px)."),
) -> None:
    """Image -> SVG of the image's size (viewBox 0 0 W H; colour images are split into colour layers)."""
    import gfx

    with user_errors():
        result = gfx.svg.vectorize(read_input(source), method=method.value, model=model, seed=seed, size=size)
        result.save(output)
        typer.echo(str(output))


@svg_app.command("scene")
def svg_scene(
    prompt: str = typer.Argument(..., help='The scene, e.g. "two trees left of a house and a sun above the house".'),
    output: Path = typer.Option(..., "-o", "--output", help="Output SVG (a <g> per object)."),
    seed: int | None = typer.Option(None, help="Random seed (same seed, same scene)."),
    mode: SceneMode = typer.Option("icons", help="icons (the IconShop model) or primitives (circles, rects, lines)."),
    layout_model: Path | None = typer.Option(
        None, "--layout-model", help="Layout model directory, or a local transformers causal-LM directory."),
    model: Path | None = typer.Option(None, help="IconShop checkpoint directory (default: the shipped one)."),
) -> None:
    """Text -> multi-object SVG scene (SVGCraft); prints the output path and each object's phrase and box."""
    import gfx

    with user_errors():
        result = gfx.svg.scene(prompt, seed=seed, mode=mode.value, layout_model=layout_model, icon_model=model)
        result.save(output)
        typer.echo(str(output))
        for obj in result.info["objects"]:
            typer.echo(f"{obj['phrase']}: {obj['box']}", err=True)


@svg_app.command("describe")
def svg_describe(
    source: Path = typer.Argument(..., help="Input SVG file."),
    model: Path | None = typer.Option(
        None, help="An LLM4SVG model (e.g. models/llm4svg-mini) or any local transformers causal-LM directory: "
        "its description instead."),
) -> None:
    """Say what an SVG shows: its named objects and where, else the nearest scene concepts (IconCLIP); with --model,
    what the LLM4SVG model says."""
    with user_errors():
        svg = read_input(source).decode("utf-8", errors="replace")
        if model is not None:
            from gfx.svg.llm4svg import load_default

            typer.echo(load_default(str(model)).describe(svg))
            return
        from gfx.svg.scene_describe import describe_svg

        typer.echo(describe_svg(svg))
