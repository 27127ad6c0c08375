"""Atomic file output: a reader never sees a half-written file under its final name.

Every writer in gfx (CLI outputs, batch jobs, corpus builds, checkpoints) goes through `atomic_open`:
it writes to a temporary file in the same directory and renames it over the target on success.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import IO

TEMP_PREFIX = ".tmp-"
"""Name prefix of the temporary files; a killed writer can leave some behind (safe to delete)."""

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", durable: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it to `path` when the block succeeds.

    On an exception (or a kill) the temporary file is removed (or left under a `TEMP_PREFIX` name) and
    `path` keeps its previous content, if any. The file gets the usual permissions (0o666 less the
    umask). `durable` also fsyncs before the rename, so the file survives a power loss; without it a
    killed process still never leaves a partial file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    fd, tmp = _create_temp(os.fspath(path))
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Atomically write `data` to `path` (see `atomic_open` for `durable`)."""
    with atomic_open(path, "wb", durable) as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write UTF-8 `text` to `path`."""
    with atomic_open(path, "w") as f:
        f.write(text)


def _create_temp(path: str) -> tuple[int, str]:
    """Create a new, empty `TEMP_PREFIX` file beside `path` (making its folder if missing): (fd, name).

    One `open` in the common case: O_EXCL makes the random name safe, and the kernel applies the
    umask to mode 0o666 (what `tempfile.mkstemp` + `chmod` would do in three more system calls).
    """
    directory = os.path.dirname(path)
    suffix = os.path.splitext(path)[1]
    for _ in range(100):
        tmp = os.path.join(directory, f"{TEMP_PREFIX}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            if not directory or os.path.isdir(directory):
                raise
            os.makedirs(directory, exist_ok=True)
    raise FileExistsError(f"could not create a temporary file beside {path}; clean up {TEMP_PREFIX}* files")
