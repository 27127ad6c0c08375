"""`run_jobs`: stream a job file through an executor, record every attempt, resume where a run stopped."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gfx.files import TEMP_PREFIX
from gfx.jobs.kinds import JOB_KINDS, JobKind
from gfx.jobs.local_executor import LocalExecutor
from gfx.jobs.manifest import MANIFEST_NAME, ManifestState, ManifestWriter, manifest_state
from gfx.jobs.ray_executor import RayExecutor
from gfx.jobs.spec import Job, read_jobs, validate_jobs
from gfx.jobs.task import Outcome

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 2
LOCK_NAME = ".lock"
MAX_LISTED_FAILURES = 20
MAX_CHUNK = 256
"""Most jobs sent to a worker (or a Ray task) at once."""
ESTIMATE_WEIGHT = 0.1
"""Weight of each new success in the per-kind moving average of seconds per job (sizes the chunks)."""
REPORT_EVERY = 1000
"""While skipping jobs that are done, call `progress` once per this many."""

Progress = Callable[[int, int, str], None]
"""progress(done, total, label): called as chunks of jobs finish, are skipped, or are out of retries."""
Executor = LocalExecutor | RayExecutor
"""What `_Batch` drives: `capacity` and `in_flight` chunks, `chunk_seconds`, `submit(chunk)`, `wait()`."""


@dataclass(frozen=True)
class RunSummary:
    """What a `run_jobs` call did.

    Attributes:
        total: jobs in the file.
        ok: jobs that succeeded in this run.
        skipped: jobs already ok from an earlier run (their outputs were found).
        failed: jobs that failed in this run, or are out of retries from earlier runs.
        manifest: path of OUTDIR/manifest.jsonl.
        failed_ids: ids of the first `MAX_LISTED_FAILURES` failed jobs.
    """

    total: int
    ok: int
    skipped: int
    failed: int
    manifest: Path
    failed_ids: tuple[str, ...] = ()


def run_jobs(
    jobs: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
    kinds: Mapping[str, JobKind] = JOB_KINDS,
) -> RunSummary:
    """Run every job of a JSONL job file, writing outputs and OUTDIR/manifest.jsonl.

    The file is validated first (one cheap pass; nothing runs if a line is bad), then streamed in
    chunks (see `gfx.jobs`), at most `workers` chunks in flight. Jobs already ok in the manifest are
    skipped; failed ones run again until they have had `1 + max_retries` attempts over all runs. One
    job's failure, crash or timeout never stops the others.

    Args:
        jobs: the job file (see `gfx.jobs` for the format); relative inputs resolve against its folder.
        out_dir: output folder; created if missing; one run at a time may use it.
        executor: "local" (worker processes here) or "ray" (tasks on a Ray cluster).
        workers: local processes (default: the CPU count) or Ray tasks (chunks) in flight (default: 2x
            cluster CPUs).
        address: Ray cluster address (only with executor="ray"); see `RayExecutor`.
        max_retries: extra attempts a failing job gets over re-runs.
        timeout: seconds one job may take before it is stopped and recorded as an error.
        progress: optional `progress(done, total, label)` callback; label is the job file's name.
        kinds: the job kinds registry.

    Returns:
        A `RunSummary`; `failed > 0` means some job did not succeed (see the manifest's error records).

    Raises:
        FileNotFoundError: no job file.
        JobSpecError: a bad line in the job file (a ValueError; lists the line and the reason).
        ValueError: bad arguments, or `out_dir` in use by another run.
    """
    jobs, out_dir = Path(jobs), Path(out_dir)
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise ValueError("an address is only used by the ray executor")
    if max_retries < 0 or timeout <= 0:
        raise ValueError(f"max_retries must be >= 0 and timeout > 0, got {max_retries} and {timeout}")
    per_kind = validate_jobs(jobs, kinds)
    total, used = sum(per_kind.values()), {name: kinds[name] for name in per_kind}  # workers preload these
    out_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        _remove_temp_files(out_dir)
        batch = _Batch(jobs, total, kinds, manifest_state(out_dir), max_retries, progress)
        if executor == "ray":
            runner = RayExecutor(out_dir, used, workers, timeout, address)
        else:
            runner = LocalExecutor(out_dir, used, workers, timeout)
        with ManifestWriter(out_dir / MANIFEST_NAME) as manifest:
            batch.run(runner, manifest)
        _remove_temp_files(out_dir)  # from workers stopped mid-write (timeouts, crashes)
    return RunSummary(
        total, batch.ok, batch.skipped, batch.failed, out_dir / MANIFEST_NAME, tuple(batch.failed_ids)
    )


class _Batch:
    """The bookkeeping of one run: which jobs to submit, and what each outcome means."""

    def __init__(
        self,
        path: Path,
        total: int,
        kinds: Mapping[str, JobKind],
        state: ManifestState,
        max_retries: int,
        progress: Progress | None,
    ):
        self.path, self.total, self.kinds, self.state = path, total, kinds, state
        self.max_retries, self.progress = max_retries, progress
        self.ok = self.skipped = self.failed = 0
        self.failed_ids: list[str] = []
        self.attempt_of: dict[str, int] = {}  # jobs in flight
        self.seconds_per_job: dict[str, float] = {}  # by kind: moving average over successful attempts
        self._held: Job | None = None  # taken from the queue, not yet sent

    @property
    def done(self) -> int:
        return self.ok + self.skipped + self.failed

    def run(self, runner: Executor, manifest: ManifestWriter) -> None:
        self._report()
        with runner:
            queue = self._to_run()
            self._fill(runner, queue)
            while runner.in_flight:
                finished = runner.wait()
                self._fill(runner, queue)  # keep the workers busy while the manifest is written
                self._record(manifest, finished)

    def _to_run(self) -> Iterator[Job]:
        """The file's jobs that need an attempt; counts the others as skipped or failed on the way."""
        for job in read_jobs(self.path, self.kinds):
            if job.id in self.state.done:
                self.skipped += 1
            elif self.state.failures[job.id] > self.max_retries:
                log.info(
                    "job %s (line %d) is out of retries (%d failed attempts)",
                    job.id,
                    job.line,
                    self.state.failures[job.id],
                )
                self._count_failure(job)
            else:
                yield job
                continue
            if self.done % REPORT_EVERY == 0:
                self._report()

    def _fill(self, runner: Executor, queue: Iterator[Job]) -> None:
        while runner.in_flight < runner.capacity:
            unsent = self.total - self.done - len(self.attempt_of)  # an upper bound: skips are counted late
            most = max(1, min(MAX_CHUNK, unsent // (2 * runner.capacity)))  # smaller chunks near the end
            chunk = self._next_chunk(queue, runner.chunk_seconds, most)
            if not chunk:
                self._report()  # the skipped jobs counted on the way
                return
            for job in chunk:
                self.attempt_of[job.id] = self.state.attempts[job.id] + 1
            runner.submit(chunk)

    def _next_chunk(self, queue: Iterator[Job], budget: float, most: int) -> list[Job]:
        """Jobs whose expected run time adds up to `budget` seconds (one at least, `most` at most).

        A job of a kind with no successful attempt yet (no estimate) goes alone in its chunk.
        """
        chunk: list[Job] = []
        planned = 0.0
        while planned < budget and len(chunk) < most:
            job, self._held = self._held or next(queue, None), None
            if job is None:
                break
            estimate = self.seconds_per_job.get(job.kind)
            if estimate is None and chunk:
                self._held = job  # the next chunk's first job
                break
            chunk.append(job)
            planned += budget if estimate is None else estimate
        return chunk

    def _record(self, manifest: ManifestWriter, finished: list[tuple[Job, Outcome]]) -> None:
        records = []
        for job, outcome in finished:
            attempt = self.attempt_of.pop(job.id)
            records.append({
                "id": job.id, "kind": job.kind, "line": job.line, "inputs": job.inputs,
                "outputs": list(outcome.outputs), "status": "ok" if outcome.ok else "error",
                "error": outcome.error, "seconds": round(outcome.seconds, 4), "attempt": attempt,
            })  # fmt: skip
            if outcome.ok:  # failures say little about run time (a missing input: none; a hang: the timeout)
                self.ok += 1
                estimate = self.seconds_per_job.get(job.kind, outcome.seconds)
                self.seconds_per_job[job.kind] = estimate + ESTIMATE_WEIGHT * (outcome.seconds - estimate)
            else:
                log.info(
                    "job %s (line %d) failed on attempt %d: %s", job.id, job.line, attempt, outcome.error
                )
                self._count_failure(job)
        manifest.append_all(records)
        self._report()

    def _count_failure(self, job: Job) -> None:
        self.failed += 1
        if len(self.failed_ids) < MAX_LISTED_FAILURES:
            self.failed_ids.append(job.id)

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total, self.path.name)


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold OUTDIR/.lock for the run, so two runs never write one manifest (released even on a kill)."""
    lock = out_dir / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{out_dir} is in use by another gfx jobs run (it holds {lock}); "
                "wait for it to finish or use another output folder"
            ) from None
        yield
    finally:
        os.close(fd)


def _remove_temp_files(out_dir: Path) -> None:
    """Delete temporary files a killed run left behind (never a file under a final name)."""
    for folder, _, names in os.walk(out_dir):
        for name in names:
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))
