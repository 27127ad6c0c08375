"""The job file: JSON lines, each one job, read lazily and validated line by line.

See the `gfx.jobs` docstring for the format. `validate_jobs` checks a whole file in one cheap pass
(and counts its jobs); `read_jobs` then streams `Job`s without holding the file in memory.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gfx.jobs.fields import REQUIRED
from gfx.jobs.kinds import JOB_KINDS, JobKind

COMMON_FIELDS = ("id", "kind", "output")
MAX_LINE_BYTES = 1 << 20
MAX_REPORTED_ERRORS = 100
ID_LENGTH = 16
"""Hex digits of the content hash used as the default id."""

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_ID_RE = re.compile(_NAME + r"\Z")
_STEM_RE = re.compile(rf"{_NAME}(/{_NAME})*\Z")
_ID_RULE = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"


class JobSpecError(ValueError):
    """A job file that breaks the spec. `errors` holds "line N: reason" for each bad line (the first 100)."""

    def __init__(self, path: str | os.PathLike, errors: list[str], more: int = 0):
        self.path = Path(path)
        self.errors = errors
        extra = len(errors) - 1 + more
        suffix = f" (and {extra} more bad line{'s' * (extra != 1)})" if extra else ""
        super().__init__(f"{path}: {errors[0]}{suffix}")


@dataclass(frozen=True)
class Job:
    """One validated line of a job file.

    Attributes:
        id: unique in the file; the line's `id`, else `ID_LENGTH` hex digits of the hash of its content.
        kind: a key of the kinds registry.
        line: 1-based line number in the job file.
        params: kind-specific fields, checked, defaults filled in.
        inputs: {field: absolute path} for the kind's input fields.
        stem: output path prefix relative to OUTDIR: the line's `output`, else the id.
    """

    id: str
    kind: str
    line: int
    params: dict[str, Any]
    inputs: dict[str, str]
    stem: str


def default_id(fields: Mapping[str, Any]) -> str:
    """The id of a line without one: a hash of its canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:ID_LENGTH]


def parse_job(
    text: bytes | str, line: int, base_dir: str | os.PathLike, kinds: Mapping[str, JobKind] = JOB_KINDS
) -> Job:
    """Validate one line of a job file.

    Raises:
        ValueError: "line N: reason", e.g. "line 17: unknown kind 'rendr-svg'; valid kinds: render-svg".
    """
    try:
        return _parse(text, line, base_dir, kinds)
    except ValueError as err:
        raise ValueError(f"line {line}: {err}") from None


def _parse(text: bytes | str, line: int, base_dir: str | os.PathLike, kinds: Mapping[str, JobKind]) -> Job:
    try:
        fields = json.loads(text)
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"is not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(fields, dict):
        raise ValueError(f"expected a JSON object, got {_json_type(fields)}")
    valid_kinds = ", ".join(kinds)
    if "kind" not in fields:
        raise ValueError(f"has no 'kind'; valid kinds: {valid_kinds}")
    kind = fields["kind"]
    if not isinstance(kind, str) or kind not in kinds:
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {valid_kinds}")
    spec = kinds[kind]
    unknown = [name for name in fields if name not in COMMON_FIELDS and name not in spec.fields]
    if unknown:
        valid = ", ".join([*COMMON_FIELDS, *spec.fields])
        raise ValueError(f"unknown field {unknown[0]!r} for kind {kind!r}; valid fields: {valid}")
    job_id = fields.get("id")
    if job_id is None:
        job_id = default_id({k: v for k, v in fields.items() if k != "id"})
    elif not isinstance(job_id, str) or not _ID_RE.match(job_id):
        raise ValueError(f"id must be {_ID_RULE}, got {job_id!r}")
    stem = fields.get("output", job_id)
    if not isinstance(stem, str) or not _STEM_RE.match(stem) or len(stem) > 256:
        raise ValueError(
            f"output must be a relative path of names of {_ID_RULE}, separated by '/', got {stem!r}"
        )
    params: dict[str, Any] = {}
    inputs: dict[str, str] = {}
    for name, field in spec.fields.items():
        if name not in fields:
            if field.default is REQUIRED:
                raise ValueError(f"kind {kind!r} needs field {name!r}")
            params[name] = copy.deepcopy(field.default)
            continue
        try:
            params[name] = field.check(fields[name])
        except ValueError as err:
            raise ValueError(f"field {name!r} {err}, got {_short(fields[name])}") from None
        if field.is_input and params[name] is not None:  # os.path, not pathlib: it interns every name
            inputs[name] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(params[name])))
    return Job(id=job_id, kind=kind, line=line, params=params, inputs=inputs, stem=stem)


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) of each non-blank line; None for a line over MAX_LINE_BYTES."""
    with open(path, "rb") as f:
        number = 0
        while chunk := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                while chunk and not chunk.endswith(b"\n"):
                    chunk = f.readline(MAX_LINE_BYTES)
                yield number, None
            elif chunk.strip():
                yield number, chunk


def _lines_to_jobs(path: Path, kinds: Mapping[str, JobKind]) -> Iterator[Job | ValueError]:
    base_dir = str(path.resolve().parent)
    for number, text in _raw_lines(path):
        if text is None:
            yield ValueError(f"line {number}: is longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            yield parse_job(text, number, base_dir, kinds)
        except ValueError as err:
            yield err


def validate_jobs(path: str | os.PathLike, kinds: Mapping[str, JobKind] = JOB_KINDS) -> dict[str, int]:
    """Check every line of a job file, and that ids and output stems are unique.

    Returns:
        The number of jobs of each kind the file uses, e.g. {"render-svg": 2000}.

    Raises:
        FileNotFoundError: no such file.
        JobSpecError: one or more bad lines; the message shows the first, `.errors` up to 100.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"job file {path} does not exist or is not a file")
    errors: list[str] = []
    more = 0
    id_lines: dict[str, int] = {}  # per-job memory: ~150 bytes per job
    stem_lines: dict[str, int] = {}  # output stems (a default stem is the id's own string)
    per_kind: dict[str, int] = {}
    for job in _lines_to_jobs(path, kinds):
        if isinstance(job, Job):
            per_kind[job.kind] = per_kind.get(job.kind, 0) + 1
            problem = _reused(job, id_lines, stem_lines)
            if not problem:
                continue
            job = ValueError(f"line {job.line}: {problem}")
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.append(str(job))
        else:
            more += 1
    if errors:
        raise JobSpecError(path, errors, more)
    return per_kind


def _reused(job: Job, id_lines: dict[str, int], stem_lines: dict[str, int]) -> str | None:
    """Why `job`'s id or output stem clashes with an earlier line's, or None (then both are recorded)."""
    if job.id in id_lines:
        return f"id {job.id!r} is already used on line {id_lines[job.id]}"
    if job.stem in stem_lines:
        return f"output {job.stem!r} is already used on line {stem_lines[job.stem]}"
    id_lines[job.id] = stem_lines[job.stem] = job.line
    return None


def read_jobs(path: str | os.PathLike, kinds: Mapping[str, JobKind] = JOB_KINDS) -> Iterator[Job]:
    """Stream the jobs of a file (validate it first with `validate_jobs`).

    Raises:
        JobSpecError: at the first bad line.
    """
    path = Path(path)
    for job in _lines_to_jobs(path, kinds):
        if isinstance(job, ValueError):
            raise JobSpecError(path, [str(job)])
        yield job


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
