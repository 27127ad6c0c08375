"""`gfx eval vectorize`: image -> SVG methods side by side on corpus icons (SVG-Bench style).

Each evaluated icon is rendered with cairosvg at `size` px on white; every method vectorizes that
image and its output is rendered back at the same size (the neural methods without the vtracer
fallback, so the table measures the model). Per method:
- `mse`, `ssim`: mean over icons (`gfx.svg.core.metrics`, SVG-Bench definitions);
- `tokens`: mean PathTokenizer body length of the output (`count_tokens`, default tokenizer);
- `bytes`: mean length of the output's compact SVG text (`to_svg` of the normalized document);
- `validity`: share of outputs that parse safely and render;
- `seconds_median`: median wall time per image;
- `failures`: icons whose vectorization raised (counted as invalid, left out of the means).
A contact sheet (input | each method) of the first `sheet_rows` icons is written when `sheet` is given.
"""

from __future__ import annotations

import logging
import statistics
import time

import numpy as np

from gfx.svg.core.metrics import is_valid_svg, mse, ssim

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("centerline+refine", "neural+refine", "neural", "vtracer", "vtracer-spline")
SETTINGS = {
    "vtracer": "binary colour mode, polygon mode, path_precision=1, filter_speckle=0 (most compact accurate setting)",
    "vtracer-spline": "binary colour mode, vtracer defaults (spline mode, path_precision=8, filter_speckle=4)",
}


def evaluate_vectorize(
    split: str = "test",
    limit: int = 50,
    methods=DEFAULT_METHODS,
    *,
    size: int = 128,
    model=None,
    refine_steps: int = 150,
    sheet: str | None = None,
    sheet_rows: int = 8,
    progress=None,
) -> dict:
    """The comparison table on `limit` icons of `split` (evenly spaced; 0 = all).

    Args:
        split: corpus split.
        limit: icons evaluated.
        methods: `gfx.svg.vectorization.vectorizer.METHODS` names.
        size: render side in pixels of inputs and outputs.
        model: StarVector pipeline or directory for the neural methods (default: shipped).
        refine_steps: optimisation steps of the `+refine` methods.
        sheet: PNG path for the contact sheet, or None.
        sheet_rows: icons on the contact sheet.
        progress: `callback(done, total, label)`.

    Returns:
        {"split", "icons", "size", "settings", "methods": {name: metrics}, "pareto": {...}}.
    """
    from gfx.data.icons import load_icons
    from gfx.svg.core.render import contact_sheet, render, save_png
    from gfx.svg.tokenizers.registry import count_tokens
    from gfx.svg.vectorization.vectorizer import vectorize

    records = load_icons(split=split)
    if limit:
        records = records[:: max(1, len(records) // limit)][:limit]
    inputs = [render(r.svg, size) for r in records]
    table, renders = {}, {}
    total = len(methods) * len(records)
    for m, method in enumerate(methods):
        rows, seconds, images, failures = [], [], [], 0
        for i, image in enumerate(inputs):
            start = time.perf_counter()
            try:
                result = vectorize(image, method, size=size, model=model, refine_steps=refine_steps, fallback=False)
            except Exception as err:  # a failure is a result here, not a crash of the whole table
                log.warning("%s failed on %s: %s", method, records[i].id, err)
                failures += 1
                images.append(np.full_like(inputs[0], 255))
                continue
            seconds.append(time.perf_counter() - start)
            text = result.svg
            out = result.render(size)
            images.append(out)
            rows.append((mse(image, out), ssim(image, out), count_tokens(result.document), len(text.encode()),
                         is_valid_svg(text)))
            if progress is not None:
                progress(m * len(records) + i + 1, total, method)
        renders[method] = images
        a = np.array(rows, dtype=np.float64).reshape(-1, 5)
        table[method] = {
            "mse": float(a[:, 0].mean()) if len(a) else None,
            "ssim": float(a[:, 1].mean()) if len(a) else None,
            "tokens": float(a[:, 2].mean()) if len(a) else None,
            "bytes": float(a[:, 3].mean()) if len(a) else None,
            "validity": float(a[:, 4].sum() / len(records)),
            "seconds_median": statistics.median(seconds) if seconds else None,
            "failures": failures,
        }
    if sheet is not None:
        n = min(sheet_rows, len(inputs))
        rows = [[inputs[i]] + [renders[m][i] for m in methods] for i in range(n)]
        save_png(contact_sheet(rows, [r.name[:14] for r in records[:n]], ["input", *methods]), sheet)
    return {"split": split, "icons": len(records), "size": size,
            "settings": {m: SETTINGS[m] for m in methods if m in SETTINGS}, "methods": table,
            "pareto": pareto(table)}


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


def evaluate_vectorize_split(split: str | None = "test", limit: int = 50, progress=None, methods=None,
                             model: str | None = None, **_) -> dict:
    """`gfx eval vectorize`: the table for the shipped model (or `model`)."""
    return evaluate_vectorize(split=split or "test", limit=limit or 50, methods=tuple(methods or DEFAULT_METHODS),
                              model=model, progress=progress)
