"""Round-trip evaluations (`gfx eval roundtrip [--set icons|artwork]`).

`--set icons` (the default): for every corpus icon, the shipped file -> parse -> normalize -> encode -> decode
-> render, compared with the render of the shipped file itself, both by cairosvg at `size` px on white
(SVG-Bench MSE). Reports the MSE distribution, the share of icons under the 1e-3 bar, the worst cases, and
token-length percentiles per source.

`--set artwork`: real-world artwork nobody here drew (`gfx.data.iconify`: Noto emoji and Devicon logos, a
seeded sample fetched from npm at evaluation time). Per set, two pipelines against the original file's render:
`normalize` (parse -> normalize -> `to_svg`) and `semantic` (parse -> normalize -> encode -> decode), each
with the share of images within MSE 1e-3 and 1e-2, refusals (`SVGError`) and crashes (any other error).
"""

from __future__ import annotations

import logging

import numpy as np

from gfx.data.subset import evenly_spaced
from gfx.svg.core.document import SVGError
from gfx.svg.core.metrics import mse
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render
from gfx.svg.core.serialize import to_svg
from gfx.svg.tokenizers.registry import default_tokenizer

log = logging.getLogger(__name__)

MSE_BAR = 1e-3
SETS = ("icons", "artwork")
ARTWORK_BARS = (1e-3, 1e-2)
ARTWORK_PIPELINES = ("normalize", "semantic")


def roundtrip_errors(records, scheme: str, size: int = 128, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Round-trip MSE and token count per record.

    Args:
        records: corpus `IconRecord`s (their `original` file text is the reference).
        scheme: tokenizer scheme, "path" or "semantic".
        size: render side in pixels.
        progress: optional `callback(done, total, label)`.

    Returns:
        errors: (N,) float64 MSE; lengths: (N,) int64 token counts (BOS and EOS included).
    """
    tokenizer = default_tokenizer(scheme)
    errors, lengths = np.zeros(len(records)), np.zeros(len(records), dtype=np.int64)
    for i, record in enumerate(records):
        document = normalize(parse_svg(record.original), to_paths=scheme == "path")
        ids = tokenizer.encode(document)
        lengths[i] = len(ids)
        errors[i] = mse(render(record.original, size), render(tokenizer.decode(ids), size))
        if progress is not None and (i % 50 == 0 or i == len(records) - 1):
            progress(i + 1, len(records), f"round trip ({scheme})")
    return errors, lengths


def roundtrip_report(records, schemes=("path", "semantic"), size: int = 128, worst: int = 5, progress=None) -> dict:
    """The round-trip table: per scheme, MSE percentiles, share <= 1e-3, worst icons, lengths by source."""
    sources = np.array([r.source for r in records])
    report = {"icons": len(records), "size": size, "mse_bar": MSE_BAR}
    for scheme in schemes:
        errors, lengths = roundtrip_errors(records, scheme, size, progress)
        order = np.argsort(errors)[::-1][:worst]
        report[scheme] = {
            "share_within_bar": round(float((errors <= MSE_BAR).mean()), 5),
            "mse_mean": float(errors.mean()),
            "mse_percentiles": {p: float(np.percentile(errors, p)) for p in (50, 90, 99, 99.9, 100)},
            "worst": [{"icon": f"{records[i].source}/{records[i].name}", "mse": float(errors[i])} for i in order],
            "tokens_by_source": {
                s: {"p50": int(np.percentile(lengths[sources == s], 50)),
                    "p99": int(np.percentile(lengths[sources == s], 99)),
                    "max": int(lengths[sources == s].max())}
                for s in sorted(set(sources))
            },
        }
    return report


def artwork_roundtrip(svg: str, size: int = 128) -> dict[str, float | str | int]:
    """Both artwork pipelines on one SVG file: {pipeline: MSE against the original's render, or the error}.

    An error is "refused: <message>" for an `SVGError` (gfx declined the input) and "crashed: <type>: <message>"
    for anything else; "tokens" holds the semantic sequence length (BOS and EOS included) when it got that far.
    """
    try:
        reference = render(svg, size)
        document = parse_svg(svg)
    except Exception as err:  # noqa: BLE001  (a bad input must not stop the evaluation)
        return {name: _failure(err) for name in ARTWORK_PIPELINES}
    out: dict[str, float | str | int] = {}
    try:
        out["normalize"] = mse(reference, render(to_svg(normalize(document)), size))
    except Exception as err:  # noqa: BLE001
        out["normalize"] = _failure(err)
    try:
        tokenizer = default_tokenizer("semantic")
        ids = tokenizer.encode(normalize(document, to_paths=False))
        out["tokens"] = len(ids)
        out["semantic"] = mse(reference, render(tokenizer.decode(ids), size))
    except Exception as err:  # noqa: BLE001
        out["semantic"] = _failure(err)
    return out


def _failure(err: Exception) -> str:
    if isinstance(err, SVGError):
        return f"refused: {err}"
    log.exception("round trip crashed")
    return f"crashed: {type(err).__name__}: {err}"


def artwork_report(count: int = 300, seed: int = 0, size: int = 128, worst: int = 5, progress=None) -> dict:
    """The artwork table: per set and pipeline, shares within MSE 1e-3 and 1e-2, refusals, crashes, worst images.

    Args:
        count: images per set (a seeded sample, `gfx.data.iconify.load_artwork`).
        seed: the sampling seed.
        size: render side in pixels.
        worst: how many of the worst images to list per pipeline.
        progress: optional `callback(done, total, label)`.
    """
    from gfx.data.iconify import ARTWORK_SETS, load_artwork

    report = {
        "set": "artwork",
        "method": f"each image's original SVG and its round trip rendered by cairosvg at {size} x {size} px on "
        "white; MSE over RGB in [0, 1]; a refused (SVGError) or crashed image counts as MSE 1, outside every bar",
        "size": size,
        "background": "white",
        "seed": seed,
        "bars": list(ARTWORK_BARS),
        "sets": {},
    }
    for name, spec in ARTWORK_SETS.items():
        images = load_artwork(name, count, seed)
        rows = []
        for i, image in enumerate(images):
            rows.append(artwork_roundtrip(image.svg, size))
            if progress is not None and (i % 25 == 0 or i == len(images) - 1):
                progress(i + 1, len(images), f"round trip ({name})")
        names = [image.name for image in images]
        entry = {"package": spec.package.spec, "license": spec.license, "images": len(images)}
        for pipeline in ARTWORK_PIPELINES:
            entry[pipeline] = _summary(names, [row[pipeline] for row in rows], worst)
        tokens = np.array([row["tokens"] for row in rows if "tokens" in row])
        if len(tokens):
            entry["semantic"]["tokens"] = {"p50": int(np.percentile(tokens, 50)),
                                           "p99": int(np.percentile(tokens, 99)), "max": int(tokens.max())}
        report["sets"][name] = entry
    return report


def _summary(names: list[str], values: list[float | str], worst: int) -> dict:
    """One pipeline's figures over a set: shares within the bars, MSE percentiles, failures, the worst images."""
    errors = np.array([v if isinstance(v, float) else 1.0 for v in values])  # a failure: 1, the largest MSE
    failed = {kind: [f"{n}: {v}" for n, v in zip(names, values, strict=True) if str(v).startswith(kind)]
              for kind in ("refused", "crashed")}
    return {
        **{f"share_within_{bar:g}": round(float((errors <= bar).mean()), 4) for bar in ARTWORK_BARS},
        "mse_p50": float(np.percentile(errors, 50)),
        "mse_p90": float(np.percentile(errors, 90)),
        "refusals": failed["refused"],
        "crashes": failed["crashed"],
        "worst": [{"image": names[i], "mse": values[i]} for i in np.argsort(errors)[::-1][:worst]],
    }


def evaluate_roundtrip(
    split: str | None = None, limit: int = 0, progress=None, set: str = "icons", **_  # noqa: A002  (the CLI's --set)
) -> dict:
    """`gfx eval roundtrip [--set icons|artwork]`.

    icons: the report over the corpus (`split` None = all icons; `limit` 0 = no limit). artwork: `artwork_report`
    with `limit` images per set (0: the default sample of 300); `split` does not apply.
    """
    from gfx.data.icons import load_icons

    if set not in SETS:
        raise ValueError(f"unknown evaluation set {set!r}; valid: {', '.join(SETS)}")
    if set == "artwork":
        return artwork_report(limit or 300, progress=progress)
    records = load_icons(split=split)
    records = evenly_spaced(records, limit)
    return roundtrip_report(records, progress=progress)
