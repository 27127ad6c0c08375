"""Local executor: N worker processes on this machine, each running one chunk of jobs at a time.

Workers start from a forkserver (never forked from the caller, which may hold threads or a GPU
context), import the kinds' heavy modules once, and then loop: receive a chunk (a list of jobs)
through a pipe, run its jobs in order, send back their outcomes in one message. Chunks amortize the
pipe round trip and the parent's wake-up over many millisecond-sized jobs.

Each worker also writes, in a small shared-memory array, how many jobs it has started and when the
latest started, so the parent knows which job of a chunk is running without any per-job message. The
parent waits on the pipes and the processes together, so a worker that crashes (a segfault,
`os._exit`, an OOM kill) or whose current job runs past the timeout is noticed at once: that job
becomes an error outcome, a fresh worker takes the slot, and the rest of the chunk runs again there
(jobs of the chunk that had finished before the crash lost their outcomes with the worker; they are
redone, which rewrites the same outputs atomically).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from gfx.jobs.kinds import Handler, JobKind
from gfx.jobs.spec import Job
from gfx.jobs.task import Outcome, describe_exit, limit_torch_threads, prepare_worker, run_task

log = logging.getLogger(__name__)

_READY = "ready"
_STARTED, _SINCE = 0, 1
"""Slots of a worker's shared progress array: jobs started so far, monotonic time of the latest start."""


def available_cpus() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    progress: Any  # shared RawArray("d", 2): see _STARTED, _SINCE
    chunk: list[Job] = field(default_factory=list)  # sent and not yet answered
    reported: int = 0  # jobs of this process whose outcomes came back
    sent: float = 0.0  # when the chunk was sent

    def deadline(self, timeout: float) -> float:
        """When the job now running (or about to run) in this slot times out."""
        return max(self.sent, self.progress[_SINCE]) + timeout

    def running(self) -> int:
        """Index in `chunk` of the job started last (0 if none has yet); exact once the process is dead."""
        return min(len(self.chunk) - 1, max(0, int(self.progress[_STARTED]) - self.reported - 1))


class LocalExecutor:
    """Runs chunks of jobs in `workers` processes with per-job timeouts; use as a context manager.

    Args:
        out_dir: where workers write outputs.
        kinds: the job kinds registry (handlers are sent to the workers by reference).
        workers: processes, default `available_cpus()`.
        timeout: seconds one job may run before its worker is killed.
    """

    chunk_seconds = 0.03
    """Work to aim for per chunk: enough to amortize a round trip (~0.1 ms), short enough to balance."""

    def __init__(self, out_dir: Path, kinds: Mapping[str, JobKind], workers: int | None, timeout: float):
        self.out_dir = Path(out_dir)
        self.capacity = available_cpus() if workers is None else workers
        if self.capacity < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.timeout = timeout
        self._handlers = {name: kind.handler for name, kind in kinds.items()}
        self._modules = tuple(dict.fromkeys(module for kind in kinds.values() for module in kind.modules))
        self._context = multiprocessing.get_context("forkserver")
        self._slots: list[_Slot] = []

    @property
    def in_flight(self) -> int:
        """Chunks submitted and not yet returned by `wait`."""
        return sum(bool(slot.chunk) for slot in self._slots)

    def __enter__(self) -> LocalExecutor:
        # Only takes effect if this process has not started its forkserver yet.
        self._context.set_forkserver_preload([__name__, *self._modules])
        self._slots = [self._start() for _ in range(self.capacity)]
        try:
            for slot in self._slots:
                self._await_ready(slot)
        except BaseException:
            self.__exit__(RuntimeError, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for slot in self._slots:
            if not slot.chunk and exc_type is None:
                try:
                    slot.conn.send(None)  # finish and exit
                except OSError:
                    pass
            else:
                slot.process.kill()
        for slot in self._slots:
            slot.process.join(5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            slot.conn.close()
        self._slots = []

    def submit(self, chunk: list[Job]) -> None:
        """Hand a non-empty chunk of jobs to an idle worker (the caller keeps `in_flight < capacity`)."""
        index = next(i for i, slot in enumerate(self._slots) if not slot.chunk)
        self._send(index, chunk)

    def wait(self) -> list[tuple[Job, Outcome]]:
        """Block until a chunk finishes, or a job crashes or times out; return the outcomes known."""
        busy = [i for i, slot in enumerate(self._slots) if slot.chunk]
        if not busy:
            return []
        deadline = min(self._slots[i].deadline(self.timeout) for i in busy)
        handles = [h for i in busy for h in (self._slots[i].conn, self._slots[i].process.sentinel)]
        ready = set(wait(handles, timeout=max(0.0, deadline - time.monotonic())))
        now = time.monotonic()
        finished: list[tuple[Job, Outcome]] = []
        for i in busy:
            slot = self._slots[i]
            outcomes = None
            if slot.conn in ready:
                try:
                    outcomes = slot.conn.recv()
                except (EOFError, OSError):  # died before or while replying
                    pass
            if outcomes is not None:
                finished.extend(zip(slot.chunk, outcomes, strict=True))
                slot.reported += len(slot.chunk)
                slot.chunk = []
            elif slot.conn in ready or slot.process.sentinel in ready:
                slot.process.join(1)
                error = describe_exit(slot.process.exitcode)
                finished.append(self._fail(i, slot.running(), error, "; starting a new worker"))
            else:
                running = slot.running()  # the count before the time: a newer time only defers the kill
                if now >= slot.deadline(self.timeout):
                    error = f"timed out after {self.timeout:g} s; its worker was stopped"
                    finished.append(self._fail(i, running, error))
        return finished

    def _fail(self, index: int, running: int, error: str, note: str = "") -> tuple[Job, Outcome]:
        """Job `running` of a slot's chunk failed with `error`: restart the slot with the chunk's others."""
        slot = self._slots[index]
        job, rest = slot.chunk[running], slot.chunk[:running] + slot.chunk[running + 1 :]
        seconds = time.monotonic() - max(slot.sent, slot.progress[_SINCE])
        log.warning("job %s (line %d): %s%s", job.id, job.line, error, note)
        self._restart(index)
        if rest:
            self._send(index, rest)
        return job, Outcome(ok=False, error=error, seconds=seconds)

    def _send(self, index: int, chunk: list[Job]) -> None:
        if not self._slots[index].process.is_alive():
            self._restart(index)
        try:
            self._slots[index].conn.send(chunk)
        except OSError:  # it died just now
            self._restart(index)
            self._slots[index].conn.send(chunk)
        slot = self._slots[index]
        slot.chunk, slot.sent = chunk, time.monotonic()

    def _start(self) -> _Slot:
        parent_end, child_end = self._context.Pipe(duplex=True)
        progress = self._context.RawArray("d", 2)
        process = self._context.Process(
            target=_worker_main,
            args=(child_end, progress, self._handlers, self._modules, self.out_dir),
            name="gfx-jobs-worker",
            daemon=True,
        )
        process.start()
        child_end.close()
        return _Slot(process, parent_end, progress)

    def _await_ready(self, slot: _Slot) -> None:
        """Wait for a new worker's "ready"; one that dies or stalls while starting stops the run."""
        wait([slot.conn, slot.process.sentinel], timeout=self.timeout)
        try:
            if slot.conn.poll() and slot.conn.recv() == _READY:
                return
        except (EOFError, OSError):
            pass
        slot.process.kill()
        slot.process.join()
        raise RuntimeError(
            f"a job worker process did not start ({describe_exit(slot.process.exitcode)}; see its stderr). "
            "A script that calls run_jobs must do so under `if __name__ == '__main__':`."
        )

    def _restart(self, index: int) -> None:
        old = self._slots[index]
        old.conn.close()
        if old.process.is_alive():
            old.process.kill()
        old.process.join(5)
        self._slots[index] = self._start()
        self._await_ready(self._slots[index])


def _worker_main(
    conn: Connection, progress: Any, handlers: dict[str, Handler], modules: tuple[str, ...], out_dir: Path
) -> None:
    """A worker's life: set up once, then run chunks until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    prepare_worker(modules)
    conn.send(_READY)
    started = 0
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        outcomes = []
        for job in chunk:
            started += 1
            progress[_SINCE] = time.monotonic()  # the time first: the parent reads the count first
            progress[_STARTED] = started
            outcomes.append(run_task(job, handlers[job.kind], out_dir))
            limit_torch_threads()
        try:
            conn.send(outcomes)
        except OSError:
            return
