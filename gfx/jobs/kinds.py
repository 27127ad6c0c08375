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
    generate-svg   prompt ("" = anything), n 1, seed 0, guidance null, style "outline" ("filled"; null = any),
                   model null, sizes []
                   -> <stem>-<i>.svg for i < n, and <stem>-<i>-<size>.png per size
    vectorize      input (image file), method "centerline+refine", size, max_colors, refine_steps,
                   fallback, seed (null: the API's defaults), model null, sizes []
                   -> <stem>.svg (viewBox 0 0 W H of the input), <stem>.json (the result's info + mse,
                   ssim, bytes), <stem>-<size>.png (long side <size>, the input's aspect ratio)
    generate-scene prompt (required), seed 0, mode "icons" ("primitives"), layout_model null, model null, sizes []
                   -> <stem>.svg (a <g> per object), <stem>.json (objects: phrase and box), <stem>-<size>.png
    generate-mesh  prompt (required), seed 0, model null, format "glb", size 256
                   -> <stem>.glb (one node per part; or .obj/.ply), <stem>.png (four-view preview)
    generate-image prompt (required), n 1, seed 0, tome false, set [] (a T2IS set: one text per image, filling
                   the prompt's {} or appended to it; n must then be 1), steps 25, guidance null (3), model null
                   (a pipeline directory, or hita-mini / xar-mini),
                   negative_concept null (a Geom-Erasing directory to steer away from; a data-removal one is
                   sampled itself when model is null), concept null (a learned
                   concept directory whose word the prompt may use), style null (a reference image file: draw in
                   its style), style_model null (the StyleTokenizer for style; null: the shipped one)
                   -> <stem>-<i>.png per image

`model` names a checkpoint directory (absolute, or relative to the current directory) that is checked
when the job file is validated; null uses the shipped model. It must exist at the same path wherever
the jobs run (every node of a Ray cluster). A null `seed` of a generate kind draws a random one per
attempt.

Each kind's `modules` are imported once per worker before its first job, and only for the kinds the
job file uses (a render-svg batch never imports torch). The public API caches loaded models per
process, so each worker loads a model once.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gfx.jobs.fields import (
    MAX_ICONS,
    MAX_SEED,
    Field,
    background_colour,
    boolean,
    camera_views,
    checkpoint_dir,
    concept_dir,
    guidance_scale,
    icon_style,
    input_path,
    mesh_format,
    mesh_path,
    optional_bool,
    optional_input_path,
    png_sizes,
    prompt_text,
    render_sizes,
    required_prompt,
    scene_mode,
    seed_value,
    set_variations,
    vectorize_method,
    whole_number,
)
from gfx.models import IMAGE_MODELS

Handler = Callable[[dict[str, Any], dict[str, bytes]], dict[str, bytes]]


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


# ------------------------------------------------------------------------------------------ handlers


def render_svg(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """SVG -> one PNG per size, with cairosvg after the safe parser's checks.

    Returns:
        {"-<size>.png": cairosvg PNG bytes, (size, size) RGB on a background colour, RGBA when "none"}
        for each size in `params["sizes"]`.
    """
    from gfx.svg.core.render import render_png

    return {f"-{size}.png": render_png(inputs["input"], size=size, background=params["background"])
            for size in params["sizes"]}


def generate_svg(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Text -> icons with `gfx.svg.generate`.

    Returns:
        {"-<i>.svg": SVG text (UTF-8)} for i < n, plus {"-<i>-<size>.png": PNG on white} for each size.
    """
    import gfx.svg
    from gfx.svg.core.render import render_png

    results = gfx.svg.generate(params["prompt"], n=params["n"], seed=params["seed"], guidance=params["guidance"],
                               model=params["model"], style=params["style"])
    files = {}
    for i, result in enumerate(results):
        files[f"-{i}.svg"] = result.svg.encode("utf-8")
        files.update({f"-{i}-{size}.png": render_png(result.document, size=size) for size in params["sizes"]})
    return files


VECTORIZE_OPTIONS = ("size", "max_colors", "refine_steps", "fallback", "seed")
"""Fields of the `vectorize` kind passed on to `gfx.svg.vectorize` when not null."""


def generate_scene(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Text -> scene with `gfx.svg.scene`.

    Returns:
        {".svg": SVG text, ".json": the scene's objects (phrase, box), "-<size>.png": PNG on white per size}.
    """
    import gfx.svg
    from gfx.svg.core.render import render_png

    result = gfx.svg.scene(params["prompt"], seed=params["seed"], mode=params["mode"],
                           layout_model=params["layout_model"], icon_model=params["model"])
    files = {".svg": result.svg.encode("utf-8"),
             ".json": json.dumps({"objects": result.info["objects"]}, sort_keys=True).encode("utf-8")}
    files.update({f"-{size}.png": render_png(result.svg, size=size) for size in params["sizes"]})
    return files


def vectorize_image(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Image -> SVG with `gfx.svg.vectorize`.

    Returns:
        {".svg": SVG text, ".json": the result's `info` plus `gfx.svg.vectorization.vectorizer.fidelity`, and "-<size>.png": the
        SVG rendered on white for each size (its long side; the input's aspect ratio)}.
    """
    import gfx.svg
    from gfx.svg.core.render import render_png
    from gfx.svg.vectorization.vectorizer import fidelity, load_image

    image = load_image(inputs["input"], source=params["input"])  # errors name the file as the job does
    options = {name: params[name] for name in VECTORIZE_OPTIONS if params[name] is not None}
    result = gfx.svg.vectorize(image, method=params["method"], model=params["model"], **options)
    report = {**result.info, **fidelity(image, result)}
    files = {".svg": result.svg.encode("utf-8"), ".json": json.dumps(report, sort_keys=True).encode("utf-8")}
    width, height = result.size
    files.update({f"-{size}.png": render_png(result.document, size=(max(1, round(width * size / max(width, height))),
                                                                   max(1, round(height * size / max(width, height)))))
                  for size in params["sizes"]})
    return files


def render_mesh(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Mesh file -> preview PNG(s) with the numpy rasterizer (`gfx.mesh.render`).

    The bytes go through a private temporary folder, under the input's own file name, because
    `load_part_mesh` reads paths (its messages and default part names use the name).

    Returns:
        {".png": every view on one sheet}, or {"-<k>.png": view k} when `separate`.
    """
    from gfx.mesh.render import DEFAULT_SIZE, DEFAULT_VIEWS, View, png_bytes, preview_image, render_views
    from gfx.mesh.structures import load_part_mesh

    with tempfile.TemporaryDirectory(prefix="gfx-mesh-") as folder:
        path = os.path.join(folder, os.path.basename(params["input"]))
        with open(path, "wb") as f:
            f.write(inputs["input"])
        mesh = load_part_mesh(path)
    views = DEFAULT_VIEWS if params["views"] is None else [View(*angles) for angles in params["views"]]
    size = params["size"] or DEFAULT_SIZE
    if params["separate"]:
        return {f"-{k}.png": png_bytes(image) for k, image in enumerate(render_views(mesh, views, size))}
    return {".png": png_bytes(preview_image(mesh, views, size))}


def generate_mesh(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Text -> part mesh with `gfx.mesh.generate`.

    Returns:
        {".<format>": the mesh (GLB: one node per part), ".png": its four-view preview}.
    """
    import gfx.mesh
    from gfx.mesh.export import get_exporter
    from gfx.mesh.render import DEFAULT_SIZE, png_bytes, preview_image

    mesh = gfx.mesh.generate(params["prompt"], seed=params["seed"], model=params["model"])
    return {f".{params['format']}": get_exporter(params["format"])(mesh),
            ".png": png_bytes(preview_image(mesh, size=params["size"] or DEFAULT_SIZE))}


def generate_image(params: dict[str, Any], inputs: dict[str, bytes]) -> dict[str, bytes]:
    """Text -> images with `gfx.image.generate` (or a T2IS set with `gfx.image.generate_set`).

    Returns:
        {"-<i>.png": PNG bytes of image i}.
    """
    import gfx.image
    from gfx.image.controls import learned_controls, sampled_model
    from gfx.image.tome import ToMe

    controls = [ToMe()] if params["tome"] else []
    controls += learned_controls(params["negative_concept"], [params["concept"]] if params["concept"] else [],
                                 inputs.get("style"), params["style_model"])
    options = {"seed": params["seed"], "controls": controls,
               "model": sampled_model(params["model"], params["negative_concept"]),
               "steps": params["steps"], "guidance": params["guidance"]}
    if params["set"]:
        if params["n"] != 1:
            raise ValueError("a set's size is the number of its texts; leave n at 1")
        results = gfx.image.generate_set(params["prompt"], params["set"], **options)
    else:
        results = gfx.image.generate(params["prompt"], n=params["n"], **options)
    return {f"-{i}.png": result.png() for i, result in enumerate(results)}


JOB_KINDS: dict[str, JobKind] = {
    "render-svg": JobKind(
        name="render-svg",
        handler=render_svg,
        fields={
            "input": Field(input_path, is_input=True),
            "sizes": Field(render_sizes, default=[128]),
            "background": Field(background_colour, default="white"),
        },
        modules=("gfx.svg.core.render", "cairosvg"),
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
        modules=("gfx.mesh.structures", "gfx.mesh.render"),
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
            "style": Field(icon_style, default="outline"),
            "model": Field(checkpoint_dir("IconShop", "an IconShop checkpoint", "models/iconshop-mini"),
                           default=None),
            "sizes": Field(png_sizes, default=[]),
        },
        modules=("gfx.svg.iconshop", "gfx.backbones.text_encoder", "gfx.svg.core.render"),
        summary="text -> icons: OUTDIR/<stem>-<i>.svg (+ <stem>-<i>-<size>.png)",
    ),
    "generate-scene": JobKind(
        name="generate-scene",
        handler=generate_scene,
        fields={
            "prompt": Field(required_prompt),
            "seed": Field(seed_value, default=0),
            "mode": Field(scene_mode, default="icons"),
            "layout_model": Field(checkpoint_dir("SVGCraftLayout", "an SVGCraft layout checkpoint",
                                                 "models/svgcraft-layout"), default=None),
            "model": Field(checkpoint_dir("IconShop", "an IconShop checkpoint", "models/iconshop-mini"),
                           default=None),
            "sizes": Field(png_sizes, default=[]),
        },
        modules=("gfx.svg.scene_compose", "gfx.svg.svgcraft", "gfx.svg.iconshop", "gfx.svg.core.render"),
        summary="text -> scene: OUTDIR/<stem>.svg (a <g> per object), <stem>.json (+ <stem>-<size>.png)",
    ),
    "vectorize": JobKind(
        name="vectorize",
        handler=vectorize_image,
        fields={
            "input": Field(input_path, is_input=True),
            "method": Field(vectorize_method, default="centerline+refine"),
            "size": Field(whole_number(16, 4096, nullable=True), default=None),
            "max_colors": Field(whole_number(1, 16, nullable=True), default=None),
            "refine_steps": Field(whole_number(0, 5000, nullable=True), default=None),
            "fallback": Field(optional_bool, default=None),
            "seed": Field(whole_number(0, MAX_SEED, nullable=True), default=None),
            "model": Field(checkpoint_dir("StarVector", "a StarVector checkpoint", "models/starvector-mini"),
                           default=None),
            "sizes": Field(png_sizes, default=[]),
        },
        modules=("gfx.svg.vectorization.vectorizer", "gfx.svg.starvector", "gfx.svg.vectorization.refine", "gfx.svg.core.render"),
        summary="image file -> SVG: OUTDIR/<stem>.svg, <stem>.json (info, mse, ssim, bytes) (+ <stem>-<size>.png)",
    ),
    "generate-mesh": JobKind(
        name="generate-mesh",
        handler=generate_mesh,
        fields={
            "prompt": Field(required_prompt),
            "seed": Field(seed_value, default=0),
            "model": Field(checkpoint_dir("FullPart", "a FullPart checkpoint", "models/fullpart-mini"), default=None),
            "format": Field(mesh_format, default="glb"),
            "size": Field(whole_number(16, 2048, nullable=True), default=None),
        },
        modules=("gfx.mesh.api", "gfx.mesh.fullpart", "gfx.mesh.render"),
        summary="text -> part mesh: OUTDIR/<stem>.glb (one node per part) and <stem>.png (preview)",
    ),
    "generate-image": JobKind(
        name="generate-image",
        handler=generate_image,
        fields={
            "prompt": Field(required_prompt),
            "n": Field(whole_number(1, MAX_ICONS), default=1),
            "seed": Field(seed_value, default=0),
            "tome": Field(boolean, default=False),
            "set": Field(set_variations, default=[]),
            "steps": Field(whole_number(1, 200), default=25),
            "guidance": Field(guidance_scale, default=None),
            "model": Field(checkpoint_dir(("ShapesDiffusionPipeline", "HitaPipeline", "XARPipeline"),
                                          "a text -> image pipeline", "models/shapes-diffusion",
                                          names=tuple(IMAGE_MODELS)), default=None),
            "negative_concept": Field(concept_dir("geom_erasing.json", "geom-erasing"), default=None),
            "concept": Field(concept_dir("concept.json", "core-concept"), default=None),
            "style": Field(optional_input_path, default=None, is_input=True),
            "style_model": Field(checkpoint_dir("StyleTokenizer", "a StyleTokenizer", "models/style-tokenizer"),
                                 default=None),
        },
        modules=("gfx.image.pipeline", "gfx.image.tome", "gfx.image.t2is", "gfx.image.geom_erasing",
                 "gfx.image.core", "gfx.image.style_tokenizer"),
        summary="text -> images (ToMe, T2IS sets, Geom-Erasing, CoRe concepts, StyleTokenizer): OUTDIR/<stem>-<i>.png",
    ),
}
"""Every job kind by name. Add an entry here to add a kind (no registration by import side effect)."""
