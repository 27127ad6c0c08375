"""The SVG format core, plain numpy and no torch: the `Document` model, safe parsing, normalization to
absolute M/L/C/Z paths, serialization, cairosvg rendering and the SVG-Bench metrics.

    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.serialize import to_svg
    doc = normalize(parse_svg(text))          # every path in the 0 0 24 24 viewBox
"""
