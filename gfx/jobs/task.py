"""Running one job: read its inputs, call its kind's handler, write its outputs atomically.

Shared by the executors: a local worker process does all three steps; with Ray the driver reads and
writes and the cluster runs only the handler (`run_handler`), so no shared filesystem is needed.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gfx.files import write_bytes
from gfx.jobs.kinds import Handler
from gfx.jobs.spec import Job

log = logging.getLogger(__name__)

MAX_INPUT_BYTES = 64 << 20
"""Largest input file a job may name; larger ones are refused before they are read."""
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Outcome:
    """How one attempt at a job ended.

    Attributes:
        ok: the handler returned and every output was written.
        outputs: written files, relative to OUTDIR.
        error: one line, "Type: message", when not ok.
        seconds: wall time of the attempt.
    """

    ok: bool
    outputs: tuple[str, ...] = ()
    error: str | None = None
    seconds: float = 0.0


def describe_error(err: BaseException) -> str:
    """`Type: message` on one line, at most MAX_ERROR_CHARS characters."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def describe_exit(exitcode: int | None) -> str:
    """Why a worker process died, from its exit code (negative: killed by that signal)."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"worker process died from signal {signal.Signals(-exitcode).name}"
        except ValueError:
            pass
    return f"worker process died with exit code {exitcode}"


def read_inputs(job: Job) -> dict[str, bytes]:
    """The bytes of each input file of `job`, refusing missing, special, oversized or growing files."""
    data = {}
    for name, path in job.inputs.items():
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"input {path} does not exist") from None
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(f"input {path} is not a regular file")
        if info.st_size > MAX_INPUT_BYTES:
            raise ValueError(
                f"input {path} is {info.st_size} bytes; the limit is {MAX_INPUT_BYTES} (MAX_INPUT_BYTES)"
            )
        with open(path, "rb") as f:
            data[name] = f.read(info.st_size + 1)  # sized by the stat, not a 64 MiB buffer per read
        if len(data[name]) > info.st_size:
            raise ValueError(f"input {path} grew while it was read; rerun the job once it is complete")
    return data


def write_outputs(out_dir: Path, job: Job, files: dict[str, bytes]) -> tuple[str, ...]:
    """Write a handler's files as OUTDIR/<stem><suffix>, each atomically; returns their relative paths."""
    names = []
    for suffix, data in files.items():
        if not isinstance(suffix, str) or "/" in suffix or "\0" in suffix or not isinstance(data, bytes):
            raise TypeError(
                f"handler for {job.kind!r} returned a bad output {suffix!r}: expected {{suffix: bytes}}"
            )
        name = job.stem + suffix
        write_bytes(out_dir / name, data, durable=False)  # rename-atomic; no fsync per output (see run.py)
        names.append(name)
    return tuple(names)


def run_task(job: Job, handler: Handler, out_dir: Path) -> Outcome:
    """Read, handle and write one job; any exception becomes an error `Outcome`."""
    start = time.perf_counter()
    try:
        outputs = write_outputs(out_dir, job, handler(job.params, read_inputs(job)))
    except Exception as err:
        return Outcome(ok=False, error=describe_error(err), seconds=time.perf_counter() - start)
    return Outcome(ok=True, outputs=outputs, seconds=time.perf_counter() - start)


def prepare_worker(modules: tuple[str, ...] | list[str]) -> None:
    """Set up a worker process once: one torch/OpenMP thread, then import the kinds' heavy modules."""
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:  # the jobs that need it will fail with the reason
            log.warning("worker could not import %s: %s", name, err)
    limit_torch_threads()


def limit_torch_threads() -> None:
    """One torch thread, if torch has been imported (workers run beside each other on the cores)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
