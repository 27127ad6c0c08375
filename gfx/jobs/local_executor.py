"""Local executor: N worker processes on this machine, one job each at a time.

Workers start from a forkserver (never forked from the caller, which may hold threads or a GPU
context), import the kinds' heavy modules once, and then loop over jobs sent through a pipe. The
parent waits on the pipes and the processes together, so a worker that crashes (a segfault,
`os._exit`, an OOM kill) or runs past the timeout is noticed at once: its job becomes an error
outcome and a fresh worker takes the slot.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from gfx.jobs.kinds import Handler, JobKind
from gfx.jobs.spec import Job
from gfx.jobs.task import Outcome, describe_exit, limit_torch_threads, prepare_worker, run_task

log = logging.getLogger(__name__)

_READY = "ready"


def available_cpus() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    job: Job | None = None
    started: float = 0.0


class LocalExecutor:
    """Runs jobs in `workers` processes with per-job timeouts; use as a context manager.

    Args:
        out_dir: where workers write outputs.
        kinds: the job kinds registry (handlers are sent to the workers by reference).
        workers: processes, default `available_cpus()`.
        timeout: seconds a job may run before its worker is killed.
    """

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
        """Jobs submitted and not yet returned by `wait`."""
        return sum(slot.job is not None for slot in self._slots)

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
            if slot.job is None and exc_type is None:
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

    def submit(self, job: Job) -> None:
        """Hand `job` to an idle worker (the caller keeps `in_flight < capacity`)."""
        index = next(i for i, slot in enumerate(self._slots) if slot.job is None)
        if not self._slots[index].process.is_alive():
            self._restart(index)
        try:
            self._slots[index].conn.send(job)
        except OSError:  # it died just now
            self._restart(index)
            self._slots[index].conn.send(job)
        self._slots[index].job, self._slots[index].started = job, time.monotonic()

    def wait(self) -> list[tuple[Job, Outcome]]:
        """Block until at least one job finishes, crashes or times out; return those."""
        busy = [i for i, slot in enumerate(self._slots) if slot.job is not None]
        if not busy:
            return []
        deadline = min(self._slots[i].started for i in busy) + self.timeout
        handles = [h for i in busy for h in (self._slots[i].conn, self._slots[i].process.sentinel)]
        ready = set(wait(handles, timeout=max(0.0, deadline - time.monotonic())))
        now = time.monotonic()
        finished = []
        for i in busy:
            slot = self._slots[i]
            outcome = None
            if slot.conn in ready:
                try:
                    outcome = slot.conn.recv()
                except (EOFError, OSError):  # died before or while replying
                    pass
            if outcome is None and (slot.conn in ready or slot.process.sentinel in ready):
                slot.process.join(1)
                outcome = Outcome(
                    ok=False, error=describe_exit(slot.process.exitcode), seconds=now - slot.started
                )
                log.warning(
                    "job %s (line %d): %s; starting a new worker", slot.job.id, slot.job.line, outcome.error
                )
                self._restart(i)
            elif outcome is None and now - slot.started >= self.timeout:
                outcome = Outcome(
                    ok=False,
                    error=f"timed out after {self.timeout:g} s; its worker was stopped",
                    seconds=now - slot.started,
                )
                log.warning("job %s (line %d): %s", slot.job.id, slot.job.line, outcome.error)
                self._restart(i)
            if outcome is not None:
                finished.append((slot.job, outcome))
                self._slots[i].job = None
        return finished

    def _start(self) -> _Slot:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main,
            args=(child_end, self._handlers, self._modules, self.out_dir),
            name="gfx-jobs-worker",
            daemon=True,
        )
        process.start()
        child_end.close()
        return _Slot(process, parent_end)

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
    conn: Connection, handlers: dict[str, Handler], modules: tuple[str, ...], out_dir: Path
) -> None:
    """A worker's life: set up once, then run jobs until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    prepare_worker(modules)
    conn.send(_READY)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        outcome = run_task(job, handlers[job.kind], out_dir)
        limit_torch_threads()
        try:
            conn.send(outcome)
        except OSError:
            return
