"""Ray executor: the same job handlers as Ray tasks on a running cluster.

The driver (the process calling `run_jobs`) reads each job's inputs, ships them with the task, and
writes the returned files itself, so the cluster's machines need gfx installed but no shared
filesystem. Jobs travel in chunks, one Ray task per chunk, so the per-task cost (about a millisecond)
is amortized over millisecond-sized jobs. Each task asks for one CPU and is never retried by Ray
(`run_jobs` owns retries). A task whose worker dies (segfault, OOM kill) or that runs past the timeout
(counted from submission, so a queued task's wait counts too) is cancelled; a task of one job makes
that job an error outcome, a task of several runs its jobs again one per task. Ray replaces the worker.
`local_cluster` starts a throwaway one-node cluster on loopback, for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gfx.jobs.kinds import Handler, JobKind
from gfx.jobs.spec import Job
from gfx.jobs.task import (
    Outcome,
    describe_error,
    limit_torch_threads,
    prepare_worker,
    read_inputs,
    write_outputs,
)
from gfx.runtime import optional_import

log = logging.getLogger(__name__)

_prepared_modules: set[str] = set()


def _run_chunk(
    handlers: dict[str, Handler], modules: tuple[str, ...], work: list[tuple[str, dict, dict]]
) -> list[tuple[bool, Any, float]]:
    """The Ray task: run handlers in a cluster worker, for each (kind, params, inputs) of `work`.

    Returns:
        Per job (True, files, seconds) or (False, "Type: message", seconds) when its handler raised.
    """
    if not _prepared_modules.issuperset(modules):
        prepare_worker(modules)
        _prepared_modules.update(modules)
    results = []
    for kind, params, inputs in work:
        start = time.perf_counter()
        try:
            results.append((True, handlers[kind](params, inputs), time.perf_counter() - start))
        except Exception as err:
            results.append((False, describe_error(err), time.perf_counter() - start))
        limit_torch_threads()
    return results


class RayExecutor:
    """Runs chunks of jobs as Ray tasks; use as a context manager.

    A chunk's task runs its jobs one after another. When a task of several jobs dies or times out,
    its jobs are submitted again one per task, so the job at fault is the one that gets the error.

    Args:
        out_dir: where the driver writes outputs.
        kinds: the job kinds registry (handlers are pickled by reference: the cluster must be able to
            import them, i.e. have gfx installed).
        workers: tasks in flight at once, default twice the cluster's CPUs.
        timeout: seconds from a task's submission before it is cancelled (chunks aim at `chunk_seconds`,
            far less; a chunk cancelled on time runs again one job per task, each with the full timeout).
        address: cluster address ("HOST:6379", "auto", "ray://HOST:10001"); None: $RAY_ADDRESS or, without
            it, a new local Ray instance. Ignored when Ray is already initialized in this process.
    """

    chunk_seconds = 0.1
    """Work to aim for per task: a Ray task costs about a millisecond of scheduling."""

    def __init__(
        self,
        out_dir: Path,
        kinds: Mapping[str, JobKind],
        workers: int | None,
        timeout: float,
        address: str | None = None,
    ):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.out_dir = Path(out_dir)
        self.capacity = workers or 0
        self.timeout = timeout
        self.address = address
        self._handlers = {name: kind.handler for name, kind in kinds.items()}
        self._modules = tuple(dict.fromkeys(module for kind in kinds.values() for module in kind.modules))
        self._pending: dict[Any, tuple[list[Job], float]] = {}  # ObjectRef -> (jobs, submitted at)
        self._finished: list[tuple[Job, Outcome]] = []
        self._owns_ray = False

    @property
    def in_flight(self) -> int:
        """Chunks submitted and not yet returned by `wait`, plus jobs that failed before their task."""
        return len(self._pending) + len(self._finished)

    def __enter__(self) -> RayExecutor:
        self._ray = ray = optional_import("ray")
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            self._owns_ray = True
        if not self.capacity:
            self.capacity = max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_run_chunk)
        self._handlers_ref = ray.put(self._handlers)  # shipped once, not with every task
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for ref in self._pending:
            self._ray.cancel(ref, force=True)
        self._pending.clear()
        if self._owns_ray:
            self._ray.shutdown()

    def submit(self, chunk: list[Job]) -> None:
        """Read the jobs' inputs here and start one task for them; a job whose input cannot be read
        fails at once, with no task."""
        jobs, work = [], []
        for job in chunk:
            try:
                inputs = read_inputs(job)
            except Exception as err:
                self._finished.append((job, Outcome(ok=False, error=describe_error(err))))
                continue
            jobs.append(job)
            work.append((job.kind, job.params, inputs))
        if jobs:
            ref = self._task.remote(self._handlers_ref, self._modules, work)
            self._pending[ref] = (jobs, time.monotonic())

    def wait(self) -> list[tuple[Job, Outcome]]:
        """Block until at least one chunk finishes, fails or times out; return the outcomes known."""
        ray = self._ray
        if self._finished or not self._pending:
            finished, self._finished = self._finished, []
            return finished
        refs = list(self._pending)
        deadline = min(submitted for _, submitted in self._pending.values()) + self.timeout
        ready, rest = ray.wait(refs, num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        for ref in ready:
            jobs, submitted = self._pending.pop(ref)
            self._collect(ref, jobs, submitted)
        now = time.monotonic()
        for ref, (jobs, submitted) in list(self._pending.items()):
            if now - submitted >= self.timeout:
                ray.cancel(ref, force=True)
                del self._pending[ref]
                error = f"timed out after {self.timeout:g} s; its Ray task was cancelled"
                self._fail(jobs, error, now - submitted)
        finished, self._finished = self._finished, []
        return finished

    def _collect(self, ref: Any, jobs: list[Job], submitted: float) -> None:
        exceptions = self._ray.exceptions
        try:
            results = self._ray.get(ref)
        except (
            exceptions.WorkerCrashedError,
            exceptions.OutOfMemoryError,
            exceptions.LocalRayletDiedError,
            exceptions.NodeDiedError,
        ) as err:
            self._fail(jobs, f"worker process died ({type(err).__name__})", time.monotonic() - submitted)
            return
        except Exception as err:  # other Ray failures
            self._fail(jobs, describe_error(getattr(err, "cause", None) or err), time.monotonic() - submitted)
            return
        for job, (ok, value, seconds) in zip(jobs, results, strict=True):
            if not ok:
                self._finished.append((job, Outcome(ok=False, error=value, seconds=seconds)))
                continue
            start = time.perf_counter()
            try:
                outputs = write_outputs(self.out_dir, job, value)
            except Exception as err:
                self._finished.append((job, Outcome(ok=False, error=describe_error(err), seconds=seconds)))
                continue
            self._finished.append(
                (job, Outcome(ok=True, outputs=outputs, seconds=seconds + time.perf_counter() - start))
            )

    def _fail(self, jobs: list[Job], error: str, seconds: float) -> None:
        """A task died or timed out: a single job gets the error; a chunk's jobs run again one per task."""
        if len(jobs) > 1:
            log.info("a Ray task of %d jobs failed (%s); running them one per task", len(jobs), error)
            for job in jobs:
                self.submit([job])
            return
        [job] = jobs
        log.warning("job %s (line %d): %s", job.id, job.line, error)
        self._finished.append((job, Outcome(ok=False, error=error, seconds=seconds)))


@contextlib.contextmanager
def local_cluster(
    num_cpus: int = 2, object_store_mb: int = 200, startup_timeout: float = 120.0
) -> Iterator[str]:
    """Start a one-node Ray cluster on loopback, yield its address ("127.0.0.1:PORT"), then stop it.

    It runs `ray start --head --block` in its own session with a private temp dir, so stopping it
    touches no other Ray instance on the machine. Token authentication is off (`RAY_AUTH_MODE=disabled`,
    so drivers connect without a token) and Ray's servers listen on every interface although the node
    advertises 127.0.0.1: use it on a trusted machine only.
    """
    optional_import("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp_dir = Path(
        tempfile.mkdtemp(prefix="gfx-ray-", dir="/tmp")
    )  # short: Ray's socket paths are length-limited
    log_path = temp_dir / "ray-start.log"
    command = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", f"--port={port}",
        "--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}", "--num-gpus=0", "--include-dashboard=false",
        f"--object-store-memory={object_store_mb << 20}", f"--temp-dir={temp_dir}", "--disable-usage-stats",
    ]  # fmt: skip
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + startup_timeout
        while b"Ray runtime started" not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(
                    f"ray start failed or timed out (exit code {process.poll()}); its log ends:\n{tail}"
                )
            time.sleep(0.2)
        log.info("Ray cluster at 127.0.0.1:%d (logs in %s)", port, temp_dir)
        yield f"127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)  # `ray start --block` then stops the processes it started
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stragglers of this cluster's own session only
        process.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
