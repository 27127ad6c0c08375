"""`gfx eval vectorize [--set icons|colour] [--protocol unseen-source [--source S]]`: image -> SVG methods side
by side (SVG-Bench style).

Sets:
- `icons` (default): corpus icons of `split`, rendered with cairosvg at 128 px on white;
- `colour`: flat-colour artwork fetched from npm at evaluation time (Twemoji, CC-BY 4.0; flat-color-icons,
  MIT; `gfx.recipes.colour_art`), rendered at 256 and 512 px, one table per size.
With `protocol="unseen-source"` the icons are one source's test icons (`source`, default lucide), the source a
model trained under that protocol never saw (`gfx.recipes.icon_protocols.unseen_source_split`); the report says
whether the evaluated model saw it (`model_saw_source`, from its train.json).
Every method vectorizes the same images at their native resolution and its output is rendered back at the
input's size (`gfx.svg.vectorization.vectorizer.fidelity`; neural methods without the vtracer fallback, so
the table measures the model, unless the name ends in `FALLBACK`: "neural+refine+fallback" is what
`gfx.svg.vectorize` returns by default). Per method:
- `mse`, `ssim`: mean over images (`gfx.svg.core.metrics`, SVG-Bench definitions);
- `tokens` (icons): mean PathTokenizer body length of the output in the 24-unit viewBox (`count_tokens`);
- `bytes`: mean length of the output's SVG text;
- `validity`: share of outputs that parse safely and render;
- `seconds_median`, `cpu_seconds_median`: median wall and process CPU time per image (CPU time is the
  steadier number on a shared machine);
- `fallback_rate`: share of images for which the method returned vtracer's trace instead of its own;
- `failures`: images whose vectorization raised (counted as invalid, left out of the means).
`pareto` says whether each of our methods dominates each vtracer row (MSE no worse and bytes no more).
A contact sheet (input | each method) of the first `sheet_rows` images is written when `sheet` is given.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import numpy as np

from gfx.data.subset import evenly_spaced
from gfx.svg.core.metrics import is_valid_svg

log = logging.getLogger(__name__)

FALLBACK = "+fallback"
"""Suffix of a method run with the vectorizer's vtracer fallback on, e.g. "neural+refine+fallback"."""
DEFAULT_METHODS = ("centerline+refine", "neural+refine", "neural", "vtracer", "vtracer-spline")
PROTOCOL_METHODS = ("neural", "neural+refine", "neural+refine" + FALLBACK, "centerline+refine", "vtracer")
"""The unseen-source table: the model alone, refined, refined with fallback (the API's neural default), the
default method and the compact vtracer baseline."""
COLOUR_METHODS = ("centerline+refine", "vtracer-color", "vtracer-color-spline")
COLOUR_SIZES = (256, 512)
SETS = ("icons", "colour")
SETTINGS = {
    "vtracer": "binary colour mode, polygon mode, path_precision=1, filter_speckle=0 (most compact accurate setting)",
    "vtracer-spline": "binary colour mode, vtracer defaults (spline mode, path_precision=8, filter_speckle=4)",
    "vtracer-color": "vtracer's colour mode, polygon mode, other settings default, on the whole image at its native "
                     "resolution (the strongest vtracer setting measured on colour artwork)",
    "vtracer-color-spline": "vtracer's defaults (colour mode, spline) on the whole image at its native resolution",
}


def evaluate_vectorize(
    split: str | None = "test",
    limit: int = 50,
    methods=None,
    *,
    set: str = "icons",  # noqa: A002  (the CLI's --set)
    protocol: str | None = None,
    source: str | None = None,
    size: int = 128,
    model=None,
    refine_steps: int | None = None,
    sheet: str | None = None,
    sheet_rows: int = 8,
    progress=None,
) -> dict:
    """The comparison table(s) on `limit` images of a set (evenly spaced; 0 = all).

    Args:
        split: corpus split of the icon set.
        limit: images evaluated (per size for the colour set).
        methods: `gfx.svg.vectorization.vectorizer.METHODS` names, optionally + `FALLBACK` (default:
            `DEFAULT_METHODS` for icons, `PROTOCOL_METHODS` under a protocol, `COLOUR_METHODS` for colour).
        set: "icons" or "colour".
        protocol: None, or "unseen-source": the icons are the held-out `source`'s of `split`.
        source: the held-out icon source (default `icon_protocols.HELD_OUT_SOURCE`); only with `protocol`.
        size: render side in pixels of the icon set.
        model: StarVector pipeline or directory for the neural methods (default: shipped).
        refine_steps: optimisation steps of the `+refine` methods (None: the vectorizer's schedule).
        sheet: PNG path for the contact sheet, or None (colour: of the first size).
        sheet_rows: images on the contact sheet.
        progress: `callback(done, total, label)`.

    Returns:
        icons: {"set", "split", "images", "size", "settings", "methods": {name: metrics}, "pareto"}, and under a
            protocol {"protocol", "source", "model_saw_source"};
        colour: {"set", "images", "licences", "settings", "sizes": {size: {"methods", "pareto"}}}.
    """
    from gfx.recipes.icon_protocols import UNSEEN_SOURCE

    if set not in SETS:
        raise ValueError(f"unknown evaluation set {set!r}; valid: {', '.join(SETS)}")
    if protocol not in (None, UNSEEN_SOURCE):
        raise ValueError(f"unknown vectorize protocol {protocol!r}; valid: {UNSEEN_SOURCE}")
    if source is not None and protocol is None:
        raise ValueError(f"--source names the icon source the {UNSEEN_SOURCE} protocol holds out; "
                         f"add --protocol {UNSEEN_SOURCE}")
    if set == "colour":
        if protocol is not None:
            raise ValueError(f"the {UNSEEN_SOURCE} protocol is about icon sources; leave out --set colour")
        return _evaluate_colour(limit, tuple(methods or COLOUR_METHODS), refine_steps, sheet, sheet_rows, progress)
    from gfx.svg.core.render import render, to_rgb

    records, facts = _icon_records(split or "test", protocol, source, model)
    records = evenly_spaced(records, limit)
    images = [to_rgb(render(r.svg, size)) for r in records]
    methods = tuple(methods or (DEFAULT_METHODS if protocol is None else PROTOCOL_METHODS))
    table, renders = compare_methods(images, [r.id for r in records], methods, model=model,
                                     refine_steps=refine_steps, tokens=True, progress=progress)
    if sheet is not None:
        save_sheet(sheet, images, renders, [r.name for r in records], methods, sheet_rows)
    return {"set": "icons", "split": split or "test", **facts, "images": len(records), "size": size,
            "settings": {m: SETTINGS[m] for m in methods if m in SETTINGS}, "methods": table,
            "pareto": pareto(table)}


def _icon_records(split: str, protocol: str | None, source: str | None, model) -> tuple[list, dict]:
    """The corpus icons of `split`, or under the protocol the held-out source's, with the report's protocol facts."""
    from gfx.data.icons import load_icons

    if protocol is None:
        return load_icons(split=split), {}
    from gfx.models import model_path
    from gfx.recipes.icon_protocols import HELD_OUT_SOURCE, saw_source, unseen_source_split

    held_out = unseen_source_split(source or HELD_OUT_SOURCE, split=split)
    model = model_path("starvector") if model is None else model
    seen = saw_source(model, held_out.source) if isinstance(model, str | Path) else None  # a pipeline: unknown
    return held_out.test, {"protocol": protocol, "source": held_out.source, "model_saw_source": seen}


def _evaluate_colour(limit, methods, refine_steps, sheet, sheet_rows, progress) -> dict:
    from gfx.recipes.colour_art import ART_SOURCES, load_colour_art

    sizes = {}
    for k, size in enumerate(COLOUR_SIZES):
        art = load_colour_art(size, limit=limit)
        images, names = [a.image for a in art], [a.name for a in art]
        table, renders = compare_methods(images, names, methods, refine_steps=refine_steps, progress=progress)
        sizes[size] = {"methods": table, "pareto": pareto(table)}
        if sheet is not None and k == 0:
            save_sheet(sheet, images, renders, names, methods, sheet_rows)
    return {"set": "colour", "images": len(names),
            "licences": {s.name: f"{s.package.spec}: {s.license}" for s in ART_SOURCES},
            "settings": {m: SETTINGS[m] for m in methods if m in SETTINGS}, "sizes": sizes}


def compare_methods(images: list[np.ndarray], names: list[str], methods, *, model=None,
                    refine_steps: int | None = None, tokens: bool = False, progress=None) -> tuple[dict, dict]:
    """Vectorize every (H, W, 3) uint8 image with every method (a name ending in `FALLBACK`: with the vtracer
    fallback on); returns ({method: metrics}, {method: renders})."""
    from gfx.svg.core.normalize import normalize
    from gfx.svg.tokenizers.registry import count_tokens
    from gfx.svg.vectorization.vectorizer import fidelity, vectorize

    table, renders = {}, {}
    total = len(methods) * len(images)
    for m, method in enumerate(methods):
        rows, seconds, cpu, outputs, failures, fell_back = [], [], [], [], 0, 0
        for i, image in enumerate(images):
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                result = vectorize(image, method.removesuffix(FALLBACK), model=model, refine_steps=refine_steps,
                                   fallback=method.endswith(FALLBACK))
            except Exception as err:  # a failure is a result here, not a crash of the whole table
                log.warning("%s failed on %s: %s", method, names[i], err)
                failures += 1
                outputs.append(np.full_like(image, 255))
                continue
            seconds.append(time.perf_counter() - start)
            fell_back += result.info["fallback"] is not None
            cpu.append(time.process_time() - start_cpu)
            scores = fidelity(image, result)
            outputs.append(result.render(max(image.shape[:2]))[..., :3])
            count = count_tokens(normalize(result.document)) if tokens else 0
            rows.append((scores["mse"], scores["ssim"], count, scores["bytes"], is_valid_svg(result.svg)))
            if progress is not None:
                progress(m * len(images) + i + 1, total, method)
        renders[method] = outputs
        a = np.array(rows, dtype=np.float64).reshape(-1, 5)
        table[method] = {
            "mse": float(a[:, 0].mean()) if len(a) else None,
            "ssim": float(a[:, 1].mean()) if len(a) else None,
            **({"tokens": float(a[:, 2].mean()) if len(a) else None} if tokens else {}),
            "bytes": float(a[:, 3].mean()) if len(a) else None,
            "validity": float(a[:, 4].sum() / len(images)),
            "seconds_median": statistics.median(seconds) if seconds else None,
            "cpu_seconds_median": statistics.median(cpu) if cpu else None,
            "fallback_rate": fell_back / len(images) if images else None,
            "failures": failures,
        }
    return table, renders


def save_sheet(path: str, images: list[np.ndarray], renders: dict, names: list[str], methods, rows: int) -> None:
    """A contact sheet (input | each method) of the first `rows` images, as PNG."""
    from gfx.svg.core.render import contact_sheet, save_png

    n = min(rows, len(images))
    grid = [[images[i]] + [renders[m][i] for m in methods] for i in range(n)]
    save_png(contact_sheet(grid, [name.split("/")[-1][:14] for name in names[:n]], ["input", *methods]), path)


def pareto(table: dict) -> dict:
    """For each of our methods (not vtracer or potrace), whether it Pareto-dominates each vtracer row.

    Dominates = MSE no worse and bytes no more (the issue's criterion).
    """
    out = {}
    for ours in (m for m in table if not m.startswith(("vtracer", "potrace"))):
        for base in (m for m in table if m.startswith("vtracer")):
            a, b = table[ours], table[base]
            if None in (a["mse"], b["mse"]):
                continue
            out[f"{ours} vs {base}"] = bool(a["mse"] <= b["mse"] and a["bytes"] <= b["bytes"])
    return out
