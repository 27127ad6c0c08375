"""SVG: parse, normalize, tokenize, render, metrics, and the generators built on them.

    import gfx
    icons = gfx.svg.generate("house, home", n=4, seed=0)   # list[SVGResult]
"""

from __future__ import annotations


def generate(prompt: str, n: int = 1, seed: int | None = None, guidance: float | None = None,
             model: str | None = None):
    """Text -> icons with the shipped IconShop model (or the checkpoint directory `model`).

    Returns:
        list of `n` `SVGResult`s, each a valid, non-empty SVG.
    """
    from gfx.svg.iconshop import load_default

    return load_default(None if model is None else str(model))(prompt, n=n, seed=seed, guidance=guidance)
