"""Atomic file output: a reader never sees a half-written file under its final name.

Every writer in gfx (CLI outputs, batch jobs, corpus builds, checkpoints) goes through `atomic_open`:
it writes to a temporary file in the same directory and renames it over the target on success.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO

TEMP_PREFIX = ".tmp-"
"""Name prefix of the temporary files; a killed writer can leave some behind (safe to delete)."""


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", durable: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it to `path` when the block succeeds.

    On an exception (or a kill) the temporary file is removed (or left under a `TEMP_PREFIX` name) and
    `path` keeps its previous content, if any. `durable` also fsyncs before the rename, so the file
    survives a power loss; without it a killed process still never leaves a partial file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=os.path.splitext(path)[1])
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the final file the usual permissions
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
