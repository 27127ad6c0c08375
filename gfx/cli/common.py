"""What every `gfx` command shares: one-line errors with exit code 2, input reading, progress bars."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

BAD_INPUT = 2


class UsageError(Exception):
    """Bad input found by the CLI itself (the library raises its own types)."""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into a one-line message and exit code 2."""
    from gfx.svg.core.document import SVGError

    try:
        yield
    except (SVGError, UsageError, FileNotFoundError, IsADirectoryError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        typer.echo(f"gfx: error: {message}", err=True)
        raise typer.Exit(BAD_INPUT) from None


def read_input(path: Path) -> bytes:
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    return path.read_bytes()


def progress_bar() -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
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
