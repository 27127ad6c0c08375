"""What every `gfx` command shares: exit codes, one-line errors with exit code 2, input reading, progress bars."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import typer

OK = 0
ITEMS_FAILED = 1
"""A batch ran but some of its items failed."""
BAD_INPUT = 2
"""Bad input or usage, with a one-line message on stderr."""
FAILED = 3
"""The command failed: an internal error, or a tool or download it needs (one line; traceback with --debug)."""


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


def choices(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """A str Enum with one member per value (a registry's names), so typer refuses other values with exit
    code 2 and `--help` lists them. Use `.value` for the string."""
    return enum.Enum(name, {value: value for value in values}, type=str)


def colour_or_none(value: str) -> str:
    """Typer callback of colour options: `none` or a CSS colour gfx can parse, else a usage error."""
    from gfx.svg.core.color import parse_color
    from gfx.svg.core.document import SVGError

    if value.strip().lower() != "none":
        try:
            parse_color(value)
        except SVGError as err:
            raise typer.BadParameter(f"{err}; use a CSS colour like white or #336699, or none") from None
    return value


def slug(text: str, fallback: str) -> str:
    """A file-name stem from a prompt: "A red circle!" -> "a-red-circle" (at most 48 characters)."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or fallback


FILE_SUFFIXES = (".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif", ".pdf")
"""Suffixes that make `-o` name a file rather than a folder."""


def numbered_outputs(out: Path, stem: str, count: int, suffix: str) -> list[Path]:
    """Where `count` generated files go, `-o` either way: a folder -> OUT/<stem>-<i><suffix>; a file named with
    `suffix` -> OUT itself for one, OUT's stem + -<i> for several. Folders are made; another file type is refused."""
    if out.suffix.lower() == suffix:
        out.parent.mkdir(parents=True, exist_ok=True)
        return [out] if count == 1 else [out.with_name(f"{out.stem}-{i}{suffix}") for i in range(count)]
    if out.suffix.lower() in FILE_SUFFIXES and not out.is_dir():
        raise UsageError(f"-o {out}: this command writes {suffix} files; give a folder or a name ending in {suffix}")
    out.mkdir(parents=True, exist_ok=True)
    return [out / f"{stem}-{i}{suffix}" for i in range(count)]


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
