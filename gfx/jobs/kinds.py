"""Job kinds: what one line of a job file can ask for, as an explicit registry of handlers.

A handler is a plain function `handler(params, inputs) -> files`:

    params: the job's kind-specific fields, validated, defaults filled in (JSON values).
    inputs: {field name: file bytes} for each field marked `is_input`.
    files:  {suffix: bytes}; each becomes the file `OUTDIR/<stem><suffix>`, written atomically by the
            executor, e.g. {"-64.png": b"\\x89PNG..."} -> OUTDIR/<id>-64.png.

Handlers do no file I/O, so the same handler runs in a local worker process and as a Ray task on a
machine that does not share the job's filesystem. They raise on bad input; any exception (or a crash
of the process) becomes an error record. State that is slow to build (a model) belongs in a cache in
the handler's module (e.g. `functools.cache`), so each worker builds it once and keeps it.

Adding a kind is one handler plus one `JobKind` entry in `JOB_KINDS` (e.g. `generate-svg` calling
`gfx.svg.generate` once that issue lands). Kinds not in the registry are reported as unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

REQUIRED = object()
"""`Field.default` for a field that every job line of the kind must give."""

Handler = Callable[[dict[str, Any], dict[str, bytes]], dict[str, bytes]]


@dataclass(frozen=True)
class Field:
    """One kind-specific field of a job line.

    Attributes:
        check: returns the value to use, or raises ValueError with a short reason ("must be ...").
        default: the value when the line omits the field; `REQUIRED` makes it mandatory.
        is_input: the value is the path of an input file, resolved against the job file's folder;
            the handler receives the file's bytes under the field's name.
    """

    check: Callable[[Any], Any]
    default: Any = REQUIRED
    is_input: bool = False


@dataclass(frozen=True)
class JobKind:
    """A registered job kind.

    Attributes:
        name: the `kind` value of a job line, e.g. "render-svg".
        handler: see the module docstring; a module-level function (it is pickled by reference).
        fields: kind-specific fields by name (the common ones, `id`, `kind`, `output`, are not listed).
        modules: heavy modules each worker imports once, before its first job of any kind.
        summary: one line for documentation.
    """

    name: str
    handler: Handler
    fields: Mapping[str, Field]
    modules: tuple[str, ...] = ()
    summary: str = ""


# ------------------------------------------------------------------------------------ field checks


def input_path(value: Any) -> str:
    """A non-empty path string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty path string")
    return value


MAX_RENDER_SIZE = 8192


def render_sizes(value: Any) -> list[int]:
    """A non-empty list of at most 16 distinct pixel sizes in 1..MAX_RENDER_SIZE."""
    valid = (
        isinstance(value, list)
        and 0 < len(value) <= 16
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_RENDER_SIZE for v in value)
        and len(set(value)) == len(value)
    )
    if not valid:
        raise ValueError(f"must be a list of 1 to 16 distinct integers in 1..{MAX_RENDER_SIZE}")
    return value


def background_colour(value: Any) -> str | None:
    """A CSS colour string, or "none"/null for a transparent background (None)."""
    if value is None or value == "none":
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isprintable():
        raise ValueError('must be a CSS colour string such as "white" or "#ffffff", or "none"')
    return value


# ------------------------------------------------------------------------------------------ handlers


def render_svg(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """SVG -> one PNG per size, with cairosvg after the safe parser's checks.

    Returns:
        {"-<size>.png": cairosvg PNG bytes, (size, size) RGB on a background colour, RGBA when "none"}
        for each size in `params["sizes"]`.
    """
    from gfx.svg.render import render_png

    return {f"-{size}.png": render_png(inputs["input"], size=size, background=params["background"])
            for size in params["sizes"]}


JOB_KINDS: dict[str, JobKind] = {
    "render-svg": JobKind(
        name="render-svg",
        handler=render_svg,
        fields={
            "input": Field(input_path, is_input=True),
            "sizes": Field(render_sizes, default=[128]),
            "background": Field(background_colour, default="white"),
        },
        modules=("gfx.svg.render", "cairosvg"),
        summary="SVG file -> PNG per size: OUTDIR/<stem>-<size>.png",
    ),
}
"""Every job kind by name. Add an entry here to add a kind (no registration by import side effect)."""
