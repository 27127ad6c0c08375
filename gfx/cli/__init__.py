"""The `gfx` command: a thin table of subcommands over the library, one module per command group.

This is the only place in gfx that reads argv, prints or exits. Exit codes: 0 success, 1 some items
of a batch failed, 2 bad input or usage (with a one-line message on stderr).
"""

from __future__ import annotations

import importlib
import sys

import typer

from gfx.cli.app import app

for _group in ("svg", "mesh", "data", "jobs", "training", "demo"):  # each module registers its commands, in this order
    importlib.import_module(f"gfx.cli.{_group}")

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gfx` console script."""
    try:
        app(args=argv, prog_name="gfx")
    except KeyboardInterrupt:
        typer.echo("gfx: interrupted", err=True)
        sys.exit(130)
