"""The `gfx` command: a thin table of subcommands over the library.

This is the only place in gfx that reads argv, prints or exits. Exit codes: 0 success, 1 some items
of a batch failed, 2 bad input or usage (with a one-line message on stderr).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from gfx import __version__

app = typer.Typer(
    help="gfx: generative graphics. SVG icons, part-based meshes and images, on the CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
svg_app = typer.Typer(help="SVG tools: normalize, render, tokenize.", no_args_is_help=True)
data_app = typer.Typer(help="Build the datasets gfx trains on.", no_args_is_help=True)
app.add_typer(svg_app, name="svg")
mesh_app = typer.Typer(help="Part-based meshes: generate, encode, decode, render.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(mesh_app, name="mesh")

BAD_INPUT = 2


class UsageError(Exception):
    """Bad input found by the CLI itself (the library raises its own types)."""


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the library's input errors into a one-line message and exit code 2."""
    from gfx.svg.document import SVGError

    try:
        yield
    except (SVGError, UsageError, FileNotFoundError, IsADirectoryError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        typer.echo(f"gfx: error: {message}", err=True)
        raise typer.Exit(BAD_INPUT) from None


def _read_input(path: Path) -> bytes:
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    return path.read_bytes()


def _progress() -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    """A rich progress bar as a `(done, total, label)` callback, and a function that closes it."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f}/s" if task.speed else "")

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True))
    tasks: dict[str, int] = {}
    bar.start()

    def update(done: int, total: int, label: str) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    return update, bar.stop


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gfx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# --- gfx svg ------------------------------------------------------------------------------------


@svg_app.command("normalize")
def svg_normalize(
    source: Path = typer.Argument(..., help="Input SVG file."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Output SVG (default: stdout)."),
    keep_primitives: bool = typer.Option(False, help="Keep circles, rects, ... instead of converting to paths."),
) -> None:
    """Normalize an SVG: flatten groups and transforms, convert to M/L/C/Z paths, fit a 24-unit viewBox."""
    from gfx.files import write_text
    from gfx.svg.normalize import normalize
    from gfx.svg.parse import parse_svg
    from gfx.svg.serialize import to_svg

    with _user_errors():
        text = to_svg(normalize(parse_svg(_read_input(source), source=str(source)), to_paths=not keep_primitives))
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
    background: str = typer.Option("white", help="Background colour, or 'none' for transparency."),
) -> None:
    """Render an SVG to a PNG with cairosvg."""
    from gfx.svg.render import render, save_png

    with _user_errors():
        image = render(_read_input(source), size=size, background=None if background == "none" else background)
        output = output or source.with_suffix(".png")
        save_png(image, output)
        typer.echo(str(output))


@svg_app.command("tokenize")
def svg_tokenize(
    source: Path = typer.Argument(..., help="Input SVG file."),
    scheme: str = typer.Option("path", help="Tokenizer scheme: path (IconShop) or semantic (LLM4SVG)."),
    decode: bool = typer.Option(False, "--decode", help="Decode the tokens back to SVG and write it to -o."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Where --decode writes the round-trip SVG."),
    ids: bool = typer.Option(False, "--ids", help="Print token ids instead of token strings."),
) -> None:
    """Print the token sequence of an SVG (normalized first)."""
    from gfx.files import write_text
    from gfx.svg.normalize import normalize
    from gfx.svg.parse import parse_svg
    from gfx.svg.serialize import to_svg
    from gfx.svg.tokenize import TOKENIZERS

    with _user_errors():
        if scheme not in TOKENIZERS:
            raise UsageError(f"unknown scheme {scheme!r}; choose one of {', '.join(TOKENIZERS)}")
        if decode and output is None:
            raise UsageError("--decode needs -o OUT.svg")
        tokenizer = TOKENIZERS[scheme]()
        document = normalize(parse_svg(_read_input(source), source=str(source)), to_paths=scheme == "path")
        tokens = tokenizer.encode(document)
        typer.echo(" ".join(map(str, tokens)) if ids else " ".join(tokenizer.token_strings(tokens)))
        if decode:
            write_text(output, to_svg(tokenizer.decode(tokens)))
            typer.echo(f"{len(tokens)} tokens; decoded SVG written to {output}", err=True)



def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "icon"


def _write_results(results, out_dir: Path, stem: str) -> None:
    from gfx.svg.render import save_png

    out_dir.mkdir(parents=True, exist_ok=True)
    for i, result in enumerate(results):
        svg_path, png_path = out_dir / f"{stem}-{i}.svg", out_dir / f"{stem}-{i}.png"
        result.save(svg_path)
        save_png(result.render(256), png_path)
        typer.echo(f"{svg_path}\n{png_path}")


@svg_app.command("generate")
def svg_generate(
    prompt: str = typer.Argument(..., help='What to draw, e.g. "house, home" ("" = anything).'),
    n: int = typer.Option(1, "-n", help="How many icons."),
    seed: int | None = typer.Option(None, help="Random seed (same seed, same icons)."),
    guidance: float | None = typer.Option(None, help="Classifier-free guidance scale (default: the model's)."),
    model: Path | None = typer.Option(None, help="IconShop checkpoint directory (default: the shipped one)."),
    out_dir: Path = typer.Option(Path("."), "-o", "--out-dir", help="Where OUTDIR/<slug>-<i>.svg/.png go."),
) -> None:
    """Text -> icons: writes an SVG and a PNG per icon and prints their paths."""
    import gfx

    with _user_errors():
        if n < 1:
            raise UsageError("-n must be at least 1")
        results = gfx.svg.generate(prompt, n=n, seed=seed, guidance=guidance, model=model)
        _write_results(results, out_dir, _slug(prompt))


@svg_app.command("edit")
def svg_edit(
    source: Path = typer.Argument(..., help="The icon to edit (any SVG; it is normalized first)."),
    keep: str = typer.Option(..., help="Comma-separated indices of the paths to keep, e.g. 0,1."),
    prompt: str = typer.Option("", help="What the regenerated paths should depict."),
    output: Path = typer.Option(..., "-o", "--output", help="Output SVG."),
    seed: int | None = typer.Option(None, help="Random seed."),
    model: Path | None = typer.Option(None, help="IconShop checkpoint directory."),
) -> None:
    """Keep some paths of an icon and regenerate the others with IconShop."""
    from gfx.svg.iconshop import load_default

    with _user_errors():
        try:
            indices = [int(k) for k in keep.split(",") if k.strip()]
        except ValueError:
            raise UsageError(f"--keep must be comma-separated path indices like 0,1, not {keep!r}") from None
        pipe = load_default(None if model is None else str(model))
        [result] = pipe.edit(_read_input(source).decode("utf-8", errors="replace"), keep=indices, prompt=prompt,
                             seed=seed)
        result.save(output)
        typer.echo(str(output))

@svg_app.command("vectorize")
def svg_vectorize(
    source: Path = typer.Argument(..., help="Input image (PNG, JPEG, ...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output SVG."),
    method: str = typer.Option("neural+refine", help="neural+refine, neural, vtracer, vtracer-spline or potrace."),
    model: Path | None = typer.Option(None, help="StarVector checkpoint directory (default: the shipped one)."),
    seed: int = typer.Option(0, help="Random seed of the neural methods."),
) -> None:
    """Image -> SVG in a 24-unit viewBox (colour images are split into colour layers)."""
    import gfx
    from gfx.svg.vectorizer import METHODS

    with _user_errors():
        if method not in METHODS:
            raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        result = gfx.svg.vectorize(_read_input(source), method=method, model=model, seed=seed)
        result.save(output)
        typer.echo(str(output))

# --- gfx data -----------------------------------------------------------------------------------


@data_app.command("build-icons")
def data_build_icons(
    out_dir: Path = typer.Option(Path("assets/icons"), "-o", "--out-dir", help="Where the corpus files go."),
    source: list[str] = typer.Option(None, "--source", help="Only these sources (repeatable); default: all."),
) -> None:
    """Fetch the pinned npm icon packages, normalize, dedupe, split, and write the corpus."""
    from gfx.data.icons import ICON_SOURCES
    from gfx.data.icons_build import build_icons
    from gfx.data.npm import NpmError

    with _user_errors():
        unknown = sorted(set(source or []) - set(ICON_SOURCES))
        if unknown:
            raise UsageError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(ICON_SOURCES)}")
        update, stop = _progress()
        try:
            summary = build_icons(out_dir=out_dir, sources=source or None, progress=update)
        except NpmError as err:
            typer.echo(f"gfx: error: {err}", err=True)
            raise typer.Exit(1) from None
        finally:
            stop()
        for name, entry in summary["sources"].items():
            typer.echo(f"{name}: {entry['records']} records {entry['splits']}, {entry['skipped']} skipped, "
                       f"{entry['merged']} merged")


# --- gfx render ---------------------------------------------------------------------------------


@app.command("render")
def render_jobs(
    jobs: Path = typer.Argument(..., help="Job file: one JSON object per line (format: `pydoc gfx.jobs`)."),
    out_dir: Path = typer.Option(..., "-o", "--out-dir", help="Output folder; gets manifest.jsonl."),
    workers: int | None = typer.Option(None, help="Worker processes (ray: tasks in flight). Default: CPUs."),
    executor: str = typer.Option("local", help="local (processes here) or ray (a Ray cluster)."),
    address: str | None = typer.Option(None, help="Ray cluster address, e.g. HOST:6379 (default $RAY_ADDRESS)."),
    max_retries: int = typer.Option(2, help="Re-runs retry a failed job until it has had 1 + K attempts."),
    timeout: float = typer.Option(120.0, help="Seconds one job may run before it is stopped as failed."),
) -> None:
    """Run a batch job file (render-svg, ...); re-running resumes and retries failed jobs."""
    from gfx.jobs import run_jobs

    bar = []  # started at the first progress call, so a bad job file prints only its error

    def update(done: int, total: int, label: str) -> None:
        if not bar:
            bar.extend(_progress())
        bar[0](done, total, label)

    with _user_errors():
        if not jobs.is_file():
            raise UsageError(f"{jobs} does not exist or is not a file")
        try:
            summary = run_jobs(jobs, out_dir, executor=executor, workers=workers, address=address,
                               max_retries=max_retries, timeout=timeout, progress=update)
        except ImportError as err:  # ray not installed
            raise UsageError(str(err)) from None
        finally:
            if bar:
                bar[1]()
    typer.echo(f"{summary.ok} ok, {summary.skipped} already done, {summary.failed} failed; {summary.manifest}")
    if summary.failed:
        shown = ", ".join(summary.failed_ids[:5]) + (", ..." if summary.failed > 5 else "")
        typer.echo(f"gfx: {summary.failed} job(s) failed ({shown}); see error records in {summary.manifest}",
                   err=True)
        raise typer.Exit(1)



# --- gfx mesh -----------------------------------------------------------------------------------


@mesh_app.command("generate")
def mesh_generate(
    prompt: str = typer.Argument(..., help='What to build, e.g. "a wooden chair with four legs".'),
    seed: int | None = typer.Option(None, help="Random seed."),
    model: Path | None = typer.Option(None, help="FullPart checkpoint directory (default: the shipped one)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output mesh: .glb (one node per part), .obj or .ply."),
) -> None:
    """Text -> part-based mesh; also writes a preview PNG beside it."""
    import gfx
    from gfx.mesh.render import preview

    with _user_errors():
        mesh = gfx.mesh.generate(prompt, seed=seed, model=model)
        mesh.export(output)
        png = preview(mesh, output.with_suffix(".png"))
        typer.echo(f"{output}\n{png}\nparts: {', '.join(mesh.names)}")


@mesh_app.command("encode")
def mesh_encode(
    source: Path = typer.Argument(..., help="Input mesh (.glb, .obj, .ply)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output codes (.npz)."),
    model: Path | None = typer.Option(None, help="VAT checkpoint directory (default: the shipped one)."),
) -> None:
    """Mesh -> VAT tokens (multi-scale residual codes)."""
    import gfx

    with _user_errors():
        _read_input(source)
        gfx.mesh.encode(source, model=model).save(output)
        typer.echo(str(output))


@mesh_app.command("decode")
def mesh_decode(
    source: Path = typer.Argument(..., help="VAT codes (.npz) from `gfx mesh encode`."),
    output: Path = typer.Option(..., "-o", "--output", help="Output mesh (.glb, .obj, .ply)."),
    model: Path | None = typer.Option(None, help="VAT checkpoint directory (default: the shipped one)."),
) -> None:
    """VAT tokens -> mesh."""
    import gfx

    with _user_errors():
        _read_input(source)
        gfx.mesh.decode(source, model=model).export(output)
        typer.echo(str(output))


@mesh_app.command("render")
def mesh_render(
    source: Path = typer.Argument(..., help="Input mesh (.glb, .obj, .ply)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Output PNG (default: IN with .png)."),
    size: int = typer.Option(256, help="Side of each view in pixels."),
) -> None:
    """Render a four-view preview PNG of a mesh (numpy rasterizer, no GPU)."""
    from gfx.mesh.render import preview
    from gfx.mesh.structures import load_part_mesh

    with _user_errors():
        _read_input(source)
        typer.echo(str(preview(load_part_mesh(source), output or source.with_suffix(".png"), size=size)))


@data_app.command("build-parts")
def data_build_parts(
    out_dir: Path = typer.Option(Path(".cache/parts3d"), "-o", "--out-dir", help="Where the dataset goes."),
    per_category: int = typer.Option(500, help="Objects per category."),
    resolution: int = typer.Option(32, help="Per-part occupancy grid resolution."),
) -> None:
    """Generate the procedural part-annotated 3D dataset (seeded, deterministic)."""
    from gfx.data.parts3d import build_parts

    with _user_errors():
        update, stop = _progress()
        try:
            manifest = build_parts(out_dir, per_category, update,
                                   resolution=resolution)
        finally:
            stop()
        typer.echo(json.dumps(manifest, indent=2, default=str)[:2000])


# --- gfx train ----------------------------------------------------------------------------------


@app.command("train")
def train_recipe(
    recipe: str = typer.Argument(..., help="Recipe name, e.g. iconshop, icon-clip."),
    out: Path | None = typer.Option(None, "--out", help="Output model directory (default: the recipe's)."),
    steps: int | None = typer.Option(None, help="Total optimizer steps (default: the recipe's)."),
    resume: bool = typer.Option(True, "--resume/--restart", help="Continue from the last checkpoint if any."),
    preset: str | None = typer.Option(None, help="Model preset, for recipes that have several sizes."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Examples per step (default: the recipe's)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: the recipe's)."),
    device: str | None = typer.Option(None, help="cpu, cuda, ... (default: CUDA when available)."),
    init_from: Path | None = typer.Option(None, "--init-from", help="Start from this saved model's weights."),
) -> None:
    """Train a model from the committed data with its recipe, and write its model card."""
    import inspect
    import json

    from gfx.recipes import get_recipe

    with _user_errors():
        run = get_recipe(recipe)
        given = {"out_dir": out, "steps": steps, "preset": preset, "batch_size": batch_size, "lr": lr,
                 "device": device, "init_from": init_from}
        options = {k: v for k, v in given.items() if v is not None}
        unknown = sorted(set(options) - set(inspect.signature(run).parameters))
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise ValueError(f"recipe {recipe!r} does not take {flags}; see its docstring for its options")
        update, stop = _progress()

        def progress(p) -> None:
            update(p.step, p.steps, recipe)

        try:
            card = run(resume=resume, progress=progress, **options)
        finally:
            stop()
        typer.echo(json.dumps(card, indent=2, default=str))



# --- gfx eval -----------------------------------------------------------------------------------


@app.command("eval")
def evaluate(
    task: str = typer.Argument(..., help="What to evaluate, e.g. roundtrip, iconshop."),
    split: str | None = typer.Option("test", help="Corpus split: train, val, test, or all."),
    limit: int = typer.Option(0, help="Evaluate at most this many items (0: all)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Also save the report as JSON here."),
) -> None:
    """Evaluate a task on a corpus split; prints the report as JSON (and saves it with -o)."""
    import json

    from gfx.files import write_text
    from gfx.recipes import get_evaluation

    with _user_errors():
        run = get_evaluation(task)
        update, stop = _progress()
        try:
            report = run(split=None if split == "all" else split, limit=limit, progress=update)
        finally:
            stop()
        text = json.dumps(report, indent=2, default=str)
        if output is not None:
            write_text(output, text + "\n")
        typer.echo(text)


# --- gfx demo -----------------------------------------------------------------------------------


@app.command("demo")
def demo(
    port: int = typer.Option(7860, help="Port on 127.0.0.1."),
    share: bool = typer.Option(False, "--share", help="Also open a public gradio.live link (off by default)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the studio in a browser tab."),
    model: Path | None = typer.Option(None, help="IconShop checkpoint directory (default: the shipped one)."),
    mesh_model: Path | None = typer.Option(None, help="FullPart checkpoint directory (default: the shipped one)."),
) -> None:
    """Launch the Gradio studio (text -> icon, mesh, batch) on 127.0.0.1 until Ctrl-C."""
    with _user_errors():
        if not 1 <= port <= 65535:
            raise UsageError(f"--port must be 1..65535, not {port}")
        for option, directory in (("--model", model), ("--mesh-model", mesh_model)):
            if directory is not None and not directory.is_dir():
                raise UsageError(f"{option} {directory} is not a directory")
        try:
            from apps.studio import launch
        except ImportError as err:  # apps/ ships with the source checkout, not the wheel
            raise UsageError(f"the studio needs the gfx source checkout (apps/): {err}") from None
        try:
            launch(port, share=share, open_browser=not no_browser, model_dir=model and str(model),
                   mesh_model_dir=mesh_model and str(mesh_model))
        except OSError as err:  # e.g. the port is taken
            raise UsageError(str(err)) from None


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gfx` console script."""
    try:
        app(args=argv, prog_name="gfx")
    except KeyboardInterrupt:
        typer.echo("gfx: interrupted", err=True)
        sys.exit(130)
