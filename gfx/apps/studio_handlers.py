"""What the studio's buttons do, without gradio: check the inputs, call the public gfx API, write files.

Each handler takes the raw values of the UI's components (strings, floats, uploaded file paths) and
writes what it shows into a fresh folder under `work_dir`. Bad input raises `StudioInputError` with a
one-line message that `gfx.apps.studio` shows in the page; handlers return `notes` for warnings that do
not stop them.
"""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_PROMPT_CHARS = 200
MAX_ICONS = 16
MAX_SEED = 2**31 - 1
GUIDANCE_RANGE = (1.0, 10.0)
PREVIEW_SIZE = 256
MAX_SVG_BYTES = 512 * 1024
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_MESH_BYTES = 16 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MESH_SUFFIXES = (".glb", ".obj", ".ply")
MAX_JOB_FILE_BYTES = 1024 * 1024
MAX_BATCH_JOBS = 500
MAX_BATCH_UPLOADS = 200
MAX_BATCH_PREVIEWS = 24
MAX_LISTED_SPEC_ERRORS = 3
BATCH_JOB_TIMEOUT = 60.0
JOB_FILE_NAME = "jobs.jsonl"
MANIFEST_COLUMNS = ["id", "kind", "status", "outputs", "error", "seconds"]
PART_COLUMNS = ["part", "label", "vertices", "faces"]
METRIC_COLUMNS = ["metric", "value"]


class StudioInputError(ValueError):
    """Input the studio refuses; the message is shown to the user as is."""


@dataclass(frozen=True)
class IconOutput:
    """Generated or edited icons.

    Attributes:
        images: (PNG path, caption) per icon, for the gallery.
        svg_files: the SVG files, for download.
        svgs: the SVG texts, in gallery order.
        status: one line: how many icons, seed, seconds.
    """

    images: list[tuple[str, str]]
    svg_files: list[str]
    svgs: list[str]
    status: str


@dataclass(frozen=True)
class VectorOutput:
    """An image vectorized, for side-by-side viewing.

    Attributes:
        input_png: the input, long side PREVIEW_SIZE px (its aspect ratio).
        svg_png: the SVG rendered on white, long side PREVIEW_SIZE px.
        svg_file: the SVG, for download.
        metrics: rows [name, value] (`METRIC_COLUMNS`): MSE, SSIM, bytes, paths, colours, seconds, fallback.
        status: one line: method, paths, bytes, seconds, and whether it fell back to vtracer.
    """

    input_png: str
    svg_png: str
    svg_file: str
    metrics: list[list]
    status: str


@dataclass(frozen=True)
class MeshOutput:
    """A generated part mesh: the GLB file, one table row per part, and a status line."""

    glb: str
    parts: list[list]
    status: str


@dataclass(frozen=True)
class BatchOutput:
    """A finished batch run.

    Attributes:
        rows: manifest records as table rows, columns `MANIFEST_COLUMNS`.
        images: up to `MAX_BATCH_PREVIEWS` output PNGs as (path, caption).
        manifest: path of the run's manifest.jsonl, for download.
        status: one line: ok / failed counts.
        notes: warnings to show (failed jobs).
    """

    rows: list[list]
    images: list[tuple[str, str]]
    manifest: str
    status: str
    notes: list[str] = field(default_factory=list)


# --- input checks -------------------------------------------------------------------------------


def check_prompt(prompt: str | None, *, required: bool = False) -> str:
    """The stripped prompt; refuses non-text, over-long and (if `required`) empty prompts."""
    if prompt is None:
        prompt = ""
    if not isinstance(prompt, str):
        raise StudioInputError(f"the prompt must be text, not {type(prompt).__name__}")
    prompt = prompt.strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise StudioInputError(f"the prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    if required and not prompt:
        raise StudioInputError("type a prompt first, e.g. 'a wooden chair with four legs'")
    return prompt


def _number(value, name: str, kind: str = "a number") -> float | None:
    """A form field's value as a float; None for an empty field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StudioInputError(f"{name} must be {kind}, not {value!r}") from None


def _whole_number(value, name: str) -> int | None:
    number = _number(value, name, "a whole number")
    if number is None:
        return None
    if not math.isfinite(number) or number != int(number):
        raise StudioInputError(f"{name} must be a whole number, not {value!r}")
    return int(number)


def check_count(n, limit: int = MAX_ICONS) -> int:
    """How many icons to make: a whole number in 1..limit."""
    count = _whole_number(n, "the number of icons")
    if count is None or not 1 <= count <= limit:
        raise StudioInputError(f"the number of icons must be 1..{limit}, not {n!r}")
    return count


def check_seed(seed) -> int:
    """A seed in 0..MAX_SEED; an empty field draws one (shown to the user so the result can be redone)."""
    value = _whole_number(seed, "the seed")
    if value is None:
        return random.randrange(MAX_SEED)
    if not 0 <= value <= MAX_SEED:
        raise StudioInputError(f"the seed must be 0..{MAX_SEED}, not {value}")
    return value


def check_guidance(guidance) -> float | None:
    """A guidance scale in `GUIDANCE_RANGE`, or None (empty field) for the model's default."""
    value = _number(guidance, "guidance")
    low, high = GUIDANCE_RANGE
    if value is not None and not low <= value <= high:  # NaN fails too
        raise StudioInputError(f"guidance must be {low:g}..{high:g} (1 = off), not {guidance!r}")
    return value


def check_style(style) -> str | None:
    """A style name of the icon tab (`gfx.svg.icon_style.style_from_name`: "any" -> None)."""
    from gfx.svg.icon_style import style_from_name

    try:
        return style_from_name(style)
    except ValueError as err:
        raise StudioInputError(str(err)) from None


def check_svg_text(svg: str | None):
    """Parse SVG text from the edit box; returns the normalized `Document` the editor works on."""
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg

    if not svg or not svg.strip():
        raise StudioInputError("there is no SVG to edit: pick an icon in the gallery or paste one")
    size = len(svg.encode("utf-8"))
    if size > MAX_SVG_BYTES:
        raise StudioInputError(f"the SVG is {size} bytes; the limit is {MAX_SVG_BYTES}")
    document = parse_svg(svg, source="the SVG")
    document = document if document.is_normalized else normalize(document)
    if not document.elements:
        raise StudioInputError("the SVG draws nothing")
    return document


def _check_upload(path: str | os.PathLike, suffixes: tuple[str, ...], limit: int) -> Path:
    """An uploaded file with one of `suffixes` and at most `limit` bytes."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise StudioInputError(f"{path.name}: expected a {', '.join(suffixes)} file")
    size = path.stat().st_size
    if size > limit:
        raise StudioInputError(f"{path.name} is {size} bytes; the limit is {limit}")
    return path


def vectorize_methods() -> list[str]:
    """The vectorize methods this machine can run (`potrace` only with its binary on PATH)."""
    from gfx.svg.vectorization.vectorizer import METHODS

    return [m for m in METHODS if m != "potrace" or shutil.which("potrace")]


def check_method(method) -> str:
    """One of `vectorize_methods()`."""
    methods = vectorize_methods()
    if method not in methods:
        raise StudioInputError(f"choose a method: {', '.join(methods)} (not {method!r})")
    return method


def _fresh_dir(work_dir: str | os.PathLike, prefix: str) -> Path:
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "icon"


# --- text -> icon -------------------------------------------------------------------------------


def _icon_output(results, out_dir: Path, stem: str, seed: int, seconds: float, what: str) -> IconOutput:
    from gfx.svg.core.render import save_png

    images, files, svgs = [], [], []
    for i, result in enumerate(results):
        svg_path, png_path = out_dir / f"{stem}-{i}.svg", out_dir / f"{stem}-{i}.png"
        result.save(svg_path)
        save_png(result.render(PREVIEW_SIZE), png_path)
        images.append((str(png_path), f"#{i} · {len(result.document.elements)} paths"))
        files.append(str(svg_path))
        svgs.append(result.svg)
    status = f"{len(results)} {what} in {seconds:.1f} s (seed {seed})"
    return IconOutput(images, files, svgs, status)


def generate_icons(prompt, n, seed, guidance, style="outline", *, model_dir: str | None,
                   work_dir: str | os.PathLike) -> IconOutput:
    """Text -> icons with `gfx.svg.generate`; writes <slug>-<i>.svg and .png into a fresh folder."""
    import gfx.svg

    prompt, n, seed, guidance = check_prompt(prompt), check_count(n), check_seed(seed), check_guidance(guidance)
    style = check_style(style)
    start = time.perf_counter()
    results = gfx.svg.generate(prompt, n=n, seed=seed, guidance=guidance, model=model_dir, style=style)
    seconds = time.perf_counter() - start
    return _icon_output(results, _fresh_dir(work_dir, "icons-"), _slug(prompt), seed, seconds, "icon(s)")


def describe_paths(svg: str | None) -> list[str]:
    """One label per path of the SVG as the editor numbers them (normalized order): `#0 · 5 commands · fill`.

    The paint is "fill", "stroke" or "fill+stroke".
    """
    labels = []
    for i, element in enumerate(check_svg_text(svg).elements):
        commands = sum(c.isalpha() for c in getattr(element, "commands", ""))
        style = element.style
        paint = "+".join(kind for kind, colour in (("fill", style.fill), ("stroke", style.stroke))
                         if colour not in (None, "none")) or "no paint"
        labels.append(f"#{i} · {commands} commands · {paint}")
    return labels


def edit_icon(svg, keep: Sequence[int] | None, prompt, n, seed, guidance, style="outline", *, model_dir: str | None,
              work_dir: str | os.PathLike) -> IconOutput:
    """Keep the paths at indices `keep` of `svg` and regenerate the others (IconShop's `edit`)."""
    from gfx.svg.iconshop import load_default

    document = check_svg_text(svg)
    keep = sorted({int(k) for k in keep or []})
    if not keep:
        raise StudioInputError("tick at least one path to keep (to start over, use Generate)")
    count = len(document.elements)
    if keep[-1] >= count:
        raise StudioInputError(f"path #{keep[-1]} does not exist; the SVG has {count} paths")
    prompt, n, seed, guidance = check_prompt(prompt), check_count(n), check_seed(seed), check_guidance(guidance)
    style = check_style(style)
    start = time.perf_counter()
    results = load_default(model_dir).edit(document, keep=keep, prompt=prompt, n=n, seed=seed, guidance=guidance,
                                           style=style)
    seconds = time.perf_counter() - start
    return _icon_output(results, _fresh_dir(work_dir, "edits-"), f"{_slug(prompt)}-edit", seed, seconds,
                        f"edit(s) keeping paths {', '.join(map(str, keep))}")


# --- image -> SVG ------------------------------------------------------------------------------


def vectorize_image(image, method, *, model_dir: str | None, work_dir: str | os.PathLike) -> VectorOutput:
    """Image -> SVG with `gfx.svg.vectorize`; writes <name>.svg and the two previews into a fresh folder.

    Args:
        image: the uploaded file's path (one of `IMAGE_SUFFIXES`, at most `MAX_IMAGE_BYTES`).
        method: one of `vectorize_methods()`.
        model_dir: StarVector checkpoint directory for the neural methods; None for the shipped one.
    """
    import gfx.svg
    from gfx.svg.core.render import save_png
    from gfx.svg.vectorization.vectorizer import fidelity, load_image, working_image

    if not image:
        raise StudioInputError("upload an image first (PNG, JPEG, WebP, BMP, GIF or TIFF)")
    path = _check_upload(image, IMAGE_SUFFIXES, MAX_IMAGE_BYTES)
    method = check_method(method)
    rgb = load_image(path, source=path.name)  # ValueError with the reason: corrupt, too many pixels, ...
    start = time.perf_counter()
    result = gfx.svg.vectorize(rgb, method=method, model=model_dir)
    seconds = time.perf_counter() - start
    metrics = fidelity(rgb, result)
    out_dir = _fresh_dir(work_dir, "vectorize-")
    svg_file, input_png, svg_png = (out_dir / f"{_slug(path.stem)}{suffix}" for suffix in
                                    (".svg", "-input.png", "-svg.png"))
    result.save(svg_file)
    save_png(working_image(rgb, PREVIEW_SIZE, PREVIEW_SIZE), input_png)
    save_png(result.render(PREVIEW_SIZE), svg_png)
    info, paths = result.info, len(result.document.elements)
    fallback = info["fallback"]
    rows = [["MSE", f"{metrics['mse']:.5f}"], ["SSIM", f"{metrics['ssim']:.4f}"], ["bytes", metrics["bytes"]],
            ["paths", paths], ["colours", ", ".join(info["colors"]) or "none"], ["seconds", f"{seconds:.2f}"],
            ["fell back to", fallback or "no"]]
    if info["empty"]:
        status = f"{method}: the image has no ink to trace; the SVG is empty ({seconds:.1f} s)"
    else:
        status = f"{method}: {paths} paths, {metrics['bytes']} bytes in {seconds:.1f} s"
        if fallback:
            status += f" (the model's result was far off, so this is {fallback}'s)"
    return VectorOutput(str(input_png), str(svg_png), str(svg_file), rows, status)


# --- text -> mesh -------------------------------------------------------------------------------


def generate_mesh(prompt, seed, *, model_dir: str | None, work_dir: str | os.PathLike) -> MeshOutput:
    """Text -> part mesh with `gfx.mesh.generate`; writes a GLB (one node per part) into a fresh folder."""
    import gfx.mesh

    prompt, seed = check_prompt(prompt, required=True), check_seed(seed)
    start = time.perf_counter()
    mesh = gfx.mesh.generate(prompt, seed=seed, model=model_dir)
    seconds = time.perf_counter() - start
    glb = mesh.export(_fresh_dir(work_dir, "mesh-") / f"{_slug(prompt)}.glb")
    rows = [[p.name, p.label, len(p.vertices), len(p.faces)] for p in mesh.parts]
    return MeshOutput(str(glb), rows, f"{len(rows)} parts, {mesh.num_faces} faces in {seconds:.1f} s (seed {seed})")


# --- batch --------------------------------------------------------------------------------------


UPLOAD_LIMITS = {**dict.fromkeys((".svg",), MAX_SVG_BYTES), **dict.fromkeys(IMAGE_SUFFIXES, MAX_IMAGE_BYTES),
                 **dict.fromkeys(MESH_SUFFIXES, MAX_MESH_BYTES)}
"""Batch input files by type, with their size limits in bytes."""


def _stage_uploads(job_file, inputs: Sequence, run_dir: Path) -> Path:
    """Copy an uploaded job file and its inputs side by side into `run_dir`; returns the job file."""
    if not job_file:
        raise StudioInputError("upload a job file (.jsonl) or enter a server folder")
    inputs = list(inputs or [])
    if len(inputs) > MAX_BATCH_UPLOADS:
        raise StudioInputError(f"{len(inputs)} files uploaded; the limit is {MAX_BATCH_UPLOADS}")
    staged = run_dir / "inputs"
    staged.mkdir()
    source = _check_upload(job_file, (".jsonl",), MAX_JOB_FILE_BYTES)
    jobs = staged / source.name
    shutil.copyfile(source, jobs)
    for upload in inputs:
        source = _check_upload(upload, tuple(UPLOAD_LIMITS), UPLOAD_LIMITS.get(Path(upload).suffix.lower(), 0))
        if (staged / source.name).exists():
            raise StudioInputError(f"two uploaded files are named {source.name}; rename one")
        shutil.copyfile(source, staged / source.name)
    return jobs


def _server_job_file(folder: str) -> Path:
    path = Path(folder.strip()).expanduser()
    if path.is_dir():
        path = path / JOB_FILE_NAME
    if not path.is_file():
        raise StudioInputError(f"{path} does not exist; give a folder with a {JOB_FILE_NAME} or a .jsonl file")
    return _check_upload(path, (".jsonl",), MAX_JOB_FILE_BYTES)


def _refuse_server_inputs(jobs: Path) -> None:
    """Refuse jobs whose inputs lie outside the uploads beside `jobs` (absolute or ../ paths), and jobs
    that name a model directory (a server path too)."""
    from gfx.jobs import read_jobs

    root = jobs.parent.resolve()
    for job in read_jobs(jobs):
        if job.params.get("model") is not None:
            raise StudioInputError(f"{jobs.name}: line {job.line}: a shared studio runs only the shipped models; "
                                   "remove the model field")
        for name, path in job.inputs.items():
            if not Path(path).resolve().is_relative_to(root):
                raise StudioInputError(f"{jobs.name}: line {job.line}: {name} {path} is not an uploaded file; "
                                       "a shared studio reads only uploads")


def _count_jobs(jobs: Path) -> int:
    with open(jobs, "rb") as f:
        count = sum(1 for line in f if line.strip())
    if count == 0:
        raise StudioInputError(f"{jobs.name} has no jobs")
    if count > MAX_BATCH_JOBS:
        raise StudioInputError(f"{jobs.name} has {count} jobs; the studio runs at most {MAX_BATCH_JOBS} "
                               "(use `gfx render` for bigger batches)")
    return count


def run_batch(job_file, inputs: Sequence | None, folder: str | None, workers, *, work_dir: str | os.PathLike,
              allow_server_paths: bool = True, progress=None) -> BatchOutput:
    """Run a job file with the local executor into a fresh folder and read its manifest back.

    Args:
        job_file: an uploaded .jsonl; its uploaded input files (`inputs`) are placed beside it, so jobs name
            them by file name ("input": "a.svg").
        inputs: uploaded SVGs, images and meshes (`UPLOAD_LIMITS` gives the types and sizes).
        folder: instead of uploads, a folder on the server holding jobs.jsonl (or a .jsonl path).
        workers: local worker processes, 1..CPU count.
        allow_server_paths: False refuses `folder` and job inputs outside the uploads (a shared, public
            studio must not read the server's files).
        progress: optional `progress(done, total, label)` callback, called as jobs finish.
    """
    from gfx.jobs import JobSpecError, read_manifest, run_jobs

    cpus = os.cpu_count() or 1
    workers = _whole_number(workers, "workers")
    if workers is None or not 1 <= workers <= cpus:
        raise StudioInputError(f"workers must be 1..{cpus}")
    run_dir = _fresh_dir(work_dir, "batch-")
    if folder and folder.strip():
        if not allow_server_paths:
            raise StudioInputError("server folders are disabled in a shared studio; upload the files instead")
        jobs = _server_job_file(folder)
    else:
        jobs = _stage_uploads(job_file, inputs or [], run_dir)
    _count_jobs(jobs)
    out_dir = run_dir / "out"
    start = time.perf_counter()
    try:
        if not allow_server_paths:
            _refuse_server_inputs(jobs)
        summary = run_jobs(jobs, out_dir, executor="local", workers=workers, timeout=BATCH_JOB_TIMEOUT,
                           max_retries=0, progress=progress)
    except JobSpecError as err:  # name the file as the user knows it, not by its staged path
        more = " ..." if len(err.errors) > MAX_LISTED_SPEC_ERRORS else ""
        raise StudioInputError(f"{jobs.name}: {'; '.join(err.errors[:MAX_LISTED_SPEC_ERRORS])}{more}") from None
    seconds = time.perf_counter() - start
    rows, images = [], []
    for record in read_manifest(summary.manifest):
        outputs = record.get("outputs") or []
        error = (record.get("error") or "").replace(f"{jobs.parent}{os.sep}", "")  # inputs as the job file names them
        rows.append([record["id"], record.get("kind", ""), record.get("status", ""), ", ".join(outputs), error,
                     round(float(record.get("seconds") or 0.0), 3)])
        for name in outputs:
            if name.endswith(".png") and len(images) < MAX_BATCH_PREVIEWS:
                images.append((str(out_dir / name), name))
    status = f"{summary.ok} ok, {summary.failed} failed of {summary.total} jobs in {seconds:.1f} s"
    notes = []
    if summary.failed:
        notes.append(f"{summary.failed} job(s) failed: {', '.join(summary.failed_ids[:5])}; see the error column")
    return BatchOutput(rows, images, str(summary.manifest), status, notes)



# --- examples -----------------------------------------------------------------------------------


ICON_EXAMPLES = [["house", 4, "0", ""], ["camera", 4, "1", "3"], ["heart", 2, "7", ""], ["", 4, "0", ""]]
"""Text -> icon examples: prompt, icons, seed, guidance."""
MESH_EXAMPLES = [["a wooden chair with four legs", "0"], ["a table", "1"], ["a lamp", "2"]]
"""Mesh examples: prompt, seed."""
EXAMPLE_ICONS = (("mdi", "home"), ("lucide", "camera"), ("tabler-outline", "heart"))
"""Corpus icons (source, name) rendered as the image -> SVG examples."""


def example_images(work_dir: str | os.PathLike, size: int = 256) -> list[str]:
    """PNG renders of `EXAMPLE_ICONS` from the shipped corpus, written once under `work_dir`."""
    from gfx.data.icons import load_icons
    from gfx.svg.core.render import render, save_png

    out_dir = Path(work_dir) / "examples"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for source, name in EXAMPLE_ICONS:
        record = next((r for r in load_icons(source) if r.name == name), None)
        if record is not None:
            path = out_dir / f"{source}-{name}.png"
            if not path.exists():
                save_png(render(record.svg, size)[..., :3], path)
            paths.append(str(path))
    return paths


def example_job_file(work_dir: str | os.PathLike) -> str:
    """A small job file (two icons, one mesh) for the batch tab's example, written under `work_dir`."""
    import json

    path = Path(work_dir) / "examples" / JOB_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    jobs = [{"id": "house", "kind": "generate-svg", "prompt": "house", "n": 2, "seed": 0},
            {"id": "chair", "kind": "generate-mesh", "prompt": "a wooden chair with four legs", "seed": 0}]
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return str(path)
