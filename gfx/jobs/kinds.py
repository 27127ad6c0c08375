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

Adding a kind is one handler plus one `JobKind` entry in `JOB_KINDS`. Kinds not in the registry are
reported as unknown.

The kinds (fields, defaults and outputs; OUTDIR/<stem> is the line's `output`, else its id):

    render-svg     input (SVG file), sizes [128], background "white"  -> <stem>-<size>.png
    render-mesh    input (.glb/.obj/.ply), size 256, views null (the four preview views) or
                   [[azimuth, elevation], ...] in degrees, separate false
                   -> <stem>.png (all views on one sheet), or <stem>-<k>.png per view when separate
    generate-svg   prompt ("" = anything), n 1, seed 0, guidance null, model null, sizes []
                   -> <stem>-<i>.svg for i < n, and <stem>-<i>-<size>.png per size
    vectorize      input (image file), method "neural+refine", size, max_colors, refine_steps,
                   fallback, seed (null: the API's defaults), model null, sizes []
                   -> <stem>.svg, <stem>.json (the result's info + mse, ssim, bytes), <stem>-<size>.png
    generate-mesh  prompt (required), seed 0, model null, format "glb", size 256
                   -> <stem>.glb (one node per part; or .obj/.ply), <stem>.png (four-view preview)

`model` names a checkpoint directory (absolute, or relative to the current directory) that is checked
when the job file is validated; null uses the shipped model. It must exist at the same path wherever
the jobs run (every node of a Ray cluster). A null `seed` of a generate kind draws a random one per
attempt.

The model kinds declare no `modules` to preload: the executors preload every registered kind's
modules, which would put torch into every render-svg worker. Their handlers import on first use and
the public API caches loaded models per process, so each worker loads a model once.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
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


def png_sizes(value: Any) -> list[int]:
    """Like `render_sizes`, but may be empty (no PNGs)."""
    if value == []:
        return value
    try:
        return render_sizes(value)
    except ValueError:
        raise ValueError(f"must be a list of up to 16 distinct integers in 1..{MAX_RENDER_SIZE}") from None


MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**32 - 1
MAX_ICONS = 16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def prompt_text(value: Any) -> str:
    """A text prompt of at most MAX_PROMPT_CHARS characters ("" allowed)."""
    if not isinstance(value, str) or len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f"must be a string of at most {MAX_PROMPT_CHARS} characters")
    return value


def required_prompt(value: Any) -> str:
    """A non-blank text prompt of at most MAX_PROMPT_CHARS characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f'must be a non-empty string of at most {MAX_PROMPT_CHARS} characters, e.g. "a chair"')
    return value


def seed_value(value: Any) -> int | None:
    """An integer seed in 0..MAX_SEED, or null for a random one."""
    if value is not None and not (_is_int(value) and 0 <= value <= MAX_SEED):
        raise ValueError(f"must be an integer in 0..{MAX_SEED}, or null for a random seed")
    return value


def whole_number(low: int, high: int, *, nullable: bool = False) -> Callable[[Any], int | None]:
    """A check for an integer in low..high (or null, when `nullable`)."""

    def check(value: Any) -> int | None:
        if value is None and nullable:
            return None
        if not (_is_int(value) and low <= value <= high):
            raise ValueError(f"must be an integer in {low}..{high}" + (", or null" if nullable else ""))
        return value

    return check


def boolean(value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def optional_bool(value: Any) -> bool | None:
    """true, false or null."""
    if value is not None and not isinstance(value, bool):
        raise ValueError("must be true, false or null")
    return value


GUIDANCE_RANGE = (1.0, 100.0)


def guidance_scale(value: Any) -> float | None:
    """A classifier-free guidance scale in GUIDANCE_RANGE (1 = off), or null for the model's."""
    low, high = GUIDANCE_RANGE
    if value is None:
        return None
    if not (isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"must be a number in {low:g}..{high:g} (1 = off), or null for the model's default")
    return float(value)


def checkpoint_dir(marker: str, what: str, example: str) -> Callable[[Any], str | None]:
    """A check for a model directory holding `marker`, made absolute; null means the shipped model.

    Relative paths resolve against the current directory (as `--model DIR` does on the command line).
    """

    def check(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be {what} directory path, or null for the shipped model")
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.exists(os.path.join(path, marker)):
            raise ValueError(f"must be {what} directory with {marker} (e.g. {example}); "
                             f"there is no {os.path.join(path, marker)}")
        return path

    return check


def vectorize_method(value: Any) -> str:
    """One of `gfx.svg.vectorizer.METHODS`; "potrace" only where the potrace binary is installed."""
    from gfx.svg.vectorizer import METHODS

    if value not in METHODS:
        raise ValueError(f"must be one of {', '.join(METHODS)}")
    if value == "potrace" and shutil.which("potrace") is None:
        raise ValueError("needs the potrace binary on PATH (apt install potrace); use \"vtracer\" instead")
    return value


MESH_SUFFIXES = (".glb", ".obj", ".ply")
"""Mesh files a job may name: self-contained ones (a .gltf's external buffers would not travel with it)."""


def mesh_path(value: Any) -> str:
    """A path of a .glb, .obj or .ply file."""
    if not isinstance(value, str) or os.path.splitext(value)[1].lower() not in MESH_SUFFIXES:
        raise ValueError(f"must be the path of a {', '.join(MESH_SUFFIXES)} file")
    return value


MAX_VIEWS = 16


def camera_views(value: Any) -> list[list[float]] | None:
    """null (the preview's four views) or 1..MAX_VIEWS [azimuth, elevation] pairs in degrees."""
    if value is None:
        return None

    def angle(a: Any, limit: float) -> bool:
        return isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) and abs(a) <= limit

    if not (isinstance(value, list) and 0 < len(value) <= MAX_VIEWS and all(
            isinstance(v, list) and len(v) == 2 and angle(v[0], 360) and angle(v[1], 90) for v in value)):
        raise ValueError(f"must be a list of 1 to {MAX_VIEWS} [azimuth, elevation] pairs in degrees "
                         "(|azimuth| <= 360, |elevation| <= 90), or null")
    return [[float(a), float(e)] for a, e in value]


def mesh_format(value: Any) -> str:
    """A mesh file type `gfx.mesh.export` writes ("glb", "obj" or "ply")."""
    from gfx.mesh.export import EXPORTERS

    if value not in EXPORTERS:
        raise ValueError(f"must be one of {', '.join(EXPORTERS)}")
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


def generate_svg(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Text -> icons with `gfx.svg.generate`.

    Returns:
        {"-<i>.svg": SVG text (UTF-8)} for i < n, plus {"-<i>-<size>.png": PNG on white} for each size.
    """
    import gfx.svg
    from gfx.svg.render import render_png

    results = gfx.svg.generate(params["prompt"], n=params["n"], seed=params["seed"], guidance=params["guidance"],
                               model=params["model"])
    files = {}
    for i, result in enumerate(results):
        files[f"-{i}.svg"] = result.svg.encode("utf-8")
        files.update({f"-{i}-{size}.png": render_png(result.document, size=size) for size in params["sizes"]})
    return files


VECTORIZE_OPTIONS = ("size", "max_colors", "refine_steps", "fallback", "seed")
"""Fields of the `vectorize` kind passed on to `gfx.svg.vectorize` when not null."""


def vectorize_image(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Image -> SVG with `gfx.svg.vectorize`.

    Returns:
        {".svg": SVG text, ".json": the result's `info` plus `gfx.svg.vectorizer.fidelity`, and "-<size>.png": the
        SVG rendered on white for each size}.
    """
    import gfx.svg
    from gfx.svg.render import render_png
    from gfx.svg.vectorizer import fidelity, load_image

    image = load_image(inputs["input"], source=params["input"])  # errors name the file as the job does
    options = {name: params[name] for name in VECTORIZE_OPTIONS if params[name] is not None}
    result = gfx.svg.vectorize(image, method=params["method"], model=params["model"], **options)
    report = {**result.info, **fidelity(image, result)}
    files = {".svg": result.svg.encode("utf-8"), ".json": json.dumps(report, sort_keys=True).encode("utf-8")}
    files.update({f"-{size}.png": render_png(result.document, size=size) for size in params["sizes"]})
    return files


def _png(image) -> bytes:
    """(H, W, 3) uint8 -> PNG file bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _mesh_views(mesh, views: list[list[float]] | None, size: int | None) -> list:
    """Renders of `mesh` from `views` (default: the preview's four), each (size, size, 3) uint8."""
    from gfx.mesh.render import DEFAULT_SIZE, DEFAULT_VIEWS, View, render_views

    chosen = DEFAULT_VIEWS if views is None else [View(azimuth, elevation) for azimuth, elevation in views]
    return render_views(mesh, chosen, size or DEFAULT_SIZE)


def _sheet_png(images: list) -> bytes:
    """Views side by side as one PNG, laid out as `gfx.mesh.render.preview` does (2 x 2 for four)."""
    from gfx.mesh.render import contact_sheet

    return _png(contact_sheet(images, 2 if len(images) == 4 else None))


def render_mesh(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Mesh file -> preview PNG(s) with the numpy rasterizer (`gfx.mesh.render`).

    The bytes go through a private temporary folder, under the input's own file name, because
    `load_part_mesh` reads paths (its messages and default part names use the name).

    Returns:
        {".png": every view on one sheet}, or {"-<k>.png": view k} when `separate`.
    """
    from gfx.mesh.structures import load_part_mesh

    with tempfile.TemporaryDirectory(prefix="gfx-mesh-") as folder:
        path = os.path.join(folder, os.path.basename(params["input"]))
        with open(path, "wb") as f:
            f.write(inputs["input"])
        mesh = load_part_mesh(path)
    images = _mesh_views(mesh, params["views"], params["size"])
    if params["separate"]:
        return {f"-{k}.png": _png(image) for k, image in enumerate(images)}
    return {".png": _sheet_png(images)}


def generate_mesh(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Text -> part mesh with `gfx.mesh.generate`.

    Returns:
        {".<format>": the mesh (GLB: one node per part), ".png": its four-view preview}.
    """
    import gfx.mesh
    from gfx.mesh.export import get_exporter

    mesh = gfx.mesh.generate(params["prompt"], seed=params["seed"], model=params["model"])
    return {f".{params['format']}": get_exporter(params["format"])(mesh),
            ".png": _sheet_png(_mesh_views(mesh, None, params["size"]))}


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
    "render-mesh": JobKind(
        name="render-mesh",
        handler=render_mesh,
        fields={
            "input": Field(mesh_path, is_input=True),
            "size": Field(whole_number(16, 2048, nullable=True), default=None),
            "views": Field(camera_views, default=None),
            "separate": Field(boolean, default=False),
        },
        summary="mesh file -> preview PNG: OUTDIR/<stem>.png (or <stem>-<k>.png per view)",
    ),
    "generate-svg": JobKind(
        name="generate-svg",
        handler=generate_svg,
        fields={
            "prompt": Field(prompt_text, default=""),
            "n": Field(whole_number(1, MAX_ICONS), default=1),
            "seed": Field(seed_value, default=0),
            "guidance": Field(guidance_scale, default=None),
            "model": Field(checkpoint_dir("pipeline.json", "an IconShop checkpoint", "models/iconshop-mini"),
                           default=None),
            "sizes": Field(png_sizes, default=[]),
        },
        summary="text -> icons: OUTDIR/<stem>-<i>.svg (+ <stem>-<i>-<size>.png)",
    ),
    "vectorize": JobKind(
        name="vectorize",
        handler=vectorize_image,
        fields={
            "input": Field(input_path, is_input=True),
            "method": Field(vectorize_method, default="neural+refine"),
            "size": Field(whole_number(16, 1024, nullable=True), default=None),
            "max_colors": Field(whole_number(1, 16, nullable=True), default=None),
            "refine_steps": Field(whole_number(0, 5000, nullable=True), default=None),
            "fallback": Field(optional_bool, default=None),
            "seed": Field(whole_number(0, MAX_SEED, nullable=True), default=None),
            "model": Field(checkpoint_dir("pipeline.json", "a StarVector checkpoint", "models/starvector-mini"),
                           default=None),
            "sizes": Field(png_sizes, default=[]),
        },
        summary="image file -> SVG: OUTDIR/<stem>.svg, <stem>.json (info, mse, ssim, bytes) (+ <stem>-<size>.png)",
    ),
    "generate-mesh": JobKind(
        name="generate-mesh",
        handler=generate_mesh,
        fields={
            "prompt": Field(required_prompt),
            "seed": Field(seed_value, default=0),
            "model": Field(checkpoint_dir("layout", "a FullPart checkpoint", "models/fullpart-mini"), default=None),
            "format": Field(mesh_format, default="glb"),
            "size": Field(whole_number(16, 2048, nullable=True), default=None),
        },
        summary="text -> part mesh: OUTDIR/<stem>.glb (one node per part) and <stem>.png (preview)",
    ),
}
"""Every job kind by name. Add an entry here to add a kind (no registration by import side effect)."""
