"""OUTDIR/manifest.jsonl: one JSON record per finished attempt, appended durably, read back tolerantly.

A record: {"id", "kind", "line", "inputs", "outputs", "status": "ok"|"error", "error", "seconds",
"attempt"}; `outputs` are paths relative to OUTDIR, `inputs` absolute paths. Records are appended a
batch at a time, each batch one `write` of whole lines, fsynced within a second, so a kill can at
worst leave a torn last line; readers skip it and `ManifestWriter` cuts it off before appending.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
SYNC_INTERVAL = 1.0
"""Seconds between the writer's background fsyncs: what a power loss (not a kill) may lose at most."""


def read_manifest(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Stream the records of a manifest; a missing file has none. Torn or garbled lines are skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                record = None
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                yield record
            elif line.endswith(b"\n"):
                log.warning("%s line %d is not a manifest record; skipped", path, number)
            # else: the torn last line of a killed run


@dataclass
class ManifestState:
    """What earlier runs achieved, per job id.

    Attributes:
        done: ids whose latest record is ok and whose outputs all still exist.
        attempts: attempts recorded per id.
        failures: error records per id.
    """

    done: set[str] = field(default_factory=set)
    attempts: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)


def manifest_state(out_dir: str | os.PathLike) -> ManifestState:
    """Summarize `OUTDIR/manifest.jsonl` for resuming (outputs of ok records are checked on disk)."""
    out_dir = Path(out_dir)
    state = ManifestState()
    for record in read_manifest(out_dir / MANIFEST_NAME):
        job_id = record["id"]
        state.attempts[job_id] += 1
        outputs = record.get("outputs") or []
        if record.get("status") == "ok" and all((out_dir / name).is_file() for name in outputs):
            state.done.add(job_id)
        else:
            state.done.discard(job_id)
            if record.get("status") != "ok":
                state.failures[job_id] += 1
    return state


class ManifestWriter:
    """Appends records to a manifest, each batch as one write of whole lines, fsynced by a background thread.

    When `append_all` returns the records are in the file (they survive a kill of this process); the
    thread fsyncs whatever was appended since its last fsync, at most every `SYNC_INTERVAL` seconds
    (group commit), so neither a slow disk nor many small batches stall the run. `close` waits for a
    final fsync.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        _cut_torn_tail(self._fd, self.path)
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self._error: OSError | None = None
        self._syncer = threading.Thread(target=self._sync_loop, name="gfx-manifest-fsync", daemon=True)
        self._syncer.start()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line."""
        self.append_all([record])

    def append_all(self, records: list[dict[str, Any]]) -> None:
        """Write records as lines, in one `write` (a kill leaves at most a torn last line)."""
        if self._error is not None:
            raise self._error
        if not records:
            return
        data = "".join(
            json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n" for record in records
        ).encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # a full disk; cut the partial line so the file stays readable
            os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - written)
            raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes); is the disk full?")
        self._dirty.set()

    def _sync_loop(self) -> None:
        while True:
            self._dirty.wait()
            if self._closing.is_set():
                return
            self._dirty.clear()
            try:
                os.fsync(self._fd)
            except OSError as err:
                self._error = err
                return
            self._closing.wait(SYNC_INTERVAL)

    def close(self) -> None:
        """Fsync what was appended and close the file."""
        if self._fd < 0:
            return
        self._closing.set()
        self._dirty.set()
        self._syncer.join()
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cut_torn_tail(fd: int, path: Path) -> None:
    """Drop a last line without its newline (a run killed mid-append), so new records start on a line."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    keep = end = size
    while end > 0:  # search backwards for the last newline
        start = max(0, end - 65536)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        keep = end = start
    log.warning("%s ends in a partial record (a killed run); dropping its last %d bytes", path, size - keep)
    os.ftruncate(fd, keep)
    os.fsync(fd)
