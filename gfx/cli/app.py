"""The `gfx` Typer application and its command groups (commands register themselves in gfx.cli.*)."""

from __future__ import annotations

import logging

import typer

from gfx import __version__

app = typer.Typer(
    help="gfx: generative graphics. SVG icons, part-based meshes and images, on the CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
svg_app = typer.Typer(help="SVG tools: normalize, render, tokenize, generate, edit, vectorize, scene, describe.",
                      no_args_is_help=True)
mesh_app = typer.Typer(help="Part-based meshes: generate, encode, decode, render.", no_args_is_help=True)
image_app = typer.Typer(help="Images: generate, with controls (ToMe, T2IS sets, Geom-Erasing, learned concepts, style references); learn a concept.", no_args_is_help=True)
data_app = typer.Typer(help="Build the datasets gfx trains on.", no_args_is_help=True)
app.add_typer(svg_app, name="svg")
app.add_typer(mesh_app, name="mesh")
app.add_typer(image_app, name="image")
app.add_typer(data_app, name="data")


_STATE = {"debug": False}


def debug_mode() -> bool:
    """True when `gfx --debug` asked for tracebacks instead of one-line internal errors."""
    return _STATE["debug"]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gfx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an internal error (exit code 3)."),
) -> None:
    _STATE["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
