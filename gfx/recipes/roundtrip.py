"""Tokenizer round-trip evaluation on the icon corpus (`gfx eval roundtrip`).

For every icon: the shipped file -> parse -> normalize -> encode -> decode -> render, compared with the
render of the shipped file itself, both by cairosvg at `size` px on white (SVG-Bench MSE). Reports the
MSE distribution, the share of icons under the 1e-3 bar, the worst cases, and token-length percentiles
per source.
"""

from __future__ import annotations

import numpy as np

from gfx.svg.core.metrics import mse
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render
from gfx.svg.tokenizers.registry import default_tokenizer

MSE_BAR = 1e-3


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


def evaluate_roundtrip(split: str | None = None, limit: int = 0, progress=None, **_) -> dict:
    """`gfx eval roundtrip`: the report over the corpus (`split` None = all icons; `limit` 0 = no limit)."""
    from gfx.data.icons import load_icons

    records = load_icons(split=split)
    if limit:
        records = records[:: max(1, len(records) // limit)][:limit]
    return roundtrip_report(records, progress=progress)
