"""The `gfx` command: a thin table of subcommands over the library, one module per command group.

This is the only place in gfx that reads argv, prints or exits. Exit codes (`gfx.cli.common`):

- 0 `OK`: success.
- 1 `ITEMS_FAILED`: a batch ran, but some of its items failed (their errors are in the manifest).
- 2 `BAD_INPUT`: bad input or usage; one line on stderr says what to fix.
- 3 `FAILED`: the command itself failed (a bug, or a tool or download it needs); one line on stderr,
  the traceback with `gfx --debug ...` (and in the log at DEBUG level).
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback

import typer

from gfx.cli.app import app, debug_mode
from gfx.cli.common import FAILED

for _group in ("svg", "mesh", "image", "data", "jobs", "training", "demo"):  # each module registers its commands, in this order
    importlib.import_module(f"gfx.cli.{_group}")

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `gfx` console script: runs the command and exits with one of the codes above."""
    try:
        app(args=argv, prog_name="gfx")  # exits itself: 0, the command's code, or BAD_INPUT for usage errors
    except KeyboardInterrupt:
        typer.echo("gfx: interrupted", err=True)
        sys.exit(130)
    except Exception as err:
        logging.getLogger("gfx.cli").debug("gfx failed", exc_info=True)
        if debug_mode():
            traceback.print_exc()
        message = (str(err).strip().splitlines() or ["no message"])[0]
        hint = "" if debug_mode() else " (rerun with gfx --debug for the traceback)"
        typer.echo(f"gfx: internal error: {type(err).__name__}: {message}{hint}", err=True)
        sys.exit(FAILED)
