"""SVG: parse, normalize, tokenize, render, metrics, and the generators built on them.

    import gfx
    icons = gfx.svg.generate("house, home", n=4, seed=0)   # list[SVGResult]
    result = gfx.svg.vectorize("logo.png")                  # SVGResult
    scene = gfx.svg.scene("two trees left of a house", seed=0)   # SVGResult, a <g> per object
    red = gfx.svg.edit(icons[0].svg, "make it red", seed=0)   # SVGResult (LLM4SVG; the shipped model is weak)
"""

from __future__ import annotations


def generate(prompt: str, n: int = 1, seed: int | None = None, guidance: float | None = None,
             model: str | None = None, style: str | None = "outline", candidates: int | None = None,
             consensus: float | None = None):
    """Text -> icons with the shipped IconShop model, or the checkpoint directory `model`: an IconShop, or an LLM4SVG
    model / any local transformers causal-LM directory (`gfx.svg.llm4svg`, which has no guidance or style rule).

    Args:
        style: "outline" (strokes of the corpus width, no fills), "filled" (fills only) or None (unconstrained);
            IconShop models only.
        candidates: samples per icon the model's reranker picks from (default: the model's, 8 for the shipped
            IconShop, 1 for the shipped LLM4SVG; 1 is plain sampling, about 3-4x faster).
        consensus: weight of the candidates' agreement in choosing among them (default: the model's, 0.5 for the
            shipped IconShop; 0 is the reranker alone).

    Returns:
        list of `n` `SVGResult`s, each a valid, non-empty SVG.
    """
    from gfx.svg.iconshop import load_default
    from gfx.svg.llm4svg import is_llm4svg_dir

    if model is not None and is_llm4svg_dir(model):
        from gfx.svg.llm4svg import load_default as load_llm4svg

        if guidance is not None:
            raise ValueError("guidance applies to IconShop models; LLM4SVG samples without it (leave it out)")
        return load_llm4svg(str(model))(prompt, n=n, seed=seed, candidates=candidates, consensus=consensus)
    return load_default(None if model is None else str(model))(prompt, n=n, seed=seed, guidance=guidance,
                                                                style=style, candidates=candidates,
                                                                consensus=consensus)


def edit(svg, instruction: str, seed: int | None = None, model: str | None = None):
    """Rewrite an SVG as told, with LLM4SVG's edit instruction (`gfx.svg.llm4svg`): the shipped model, or `model`, an
    LLM4SVG model or any local transformers causal-LM directory.

    The shipped model (`models/llm4svg-mini`) was trained on five edits ("mirror it horizontally", "flip it upside
    down", "remove the last shape", "make it red", "make it blue"); on test icons about 4 of its edits in 10 are
    exact, and the rest often distort the icon (`eval.edit` in its metrics.json). Its output is always valid SVG.

    Args:
        svg: SVG text or a `Document`; it is normalized into the model's viewBox (24 units) first.
        instruction: what to change, e.g. "make it red".

    Returns:
        An `SVGResult` on the model's viewBox: valid and non-empty. ValueError for an empty instruction, SVGError for
        SVG that does not parse or draws nothing.
    """
    from gfx.svg.llm4svg import load_default

    [result] = load_default(None if model is None else str(model)).edit(svg, instruction, seed=seed)
    return result


def vectorize(image, method: str = "centerline+refine", model: str | None = None, **options):
    """Image -> SVG of the image's size, viewBox `0 0 W H` (`gfx.svg.vectorization.vectorizer.vectorize`; options:
    size (cap on the traced long side, 1024), max_colors, seed, ...).

    Args:
        image: a path, encoded image bytes, a PIL image or a numpy array.
        method: "centerline+refine" (the best measured), "centerline", "neural+refine", "neural", "vtracer",
            "vtracer-spline", "vtracer-color", "vtracer-color-spline" or "potrace" (needs the potrace binary).
        model: StarVector checkpoint directory for the neural methods (default: the shipped one).

    Returns:
        An `SVGResult` (valid; empty document with `info["empty"]` when the image has no ink).
    """
    from gfx.svg.vectorization.vectorizer import vectorize as run

    return run(image, method, model=model, **options)


def scene(prompt: str, seed: int | None = None, *, mode: str = "icons", layout_model: str | None = None,
          icon_model: str | None = None):
    """Text -> multi-object scene (SVGCraft, `gfx.svg.scene_compose.compose_scene`): a layout from the shipped layout
    model (or `layout_model`: a layout directory or a local causal-LM directory), each object drawn in its box
    (mode "icons": the IconShop model; "primitives": circles, rects and lines), one stroke width, overlaps
    refined with the soft rasterizer.

    Returns:
        An `SVGResult` on a `0 0 96 96` viewBox with one `<g aria-label="phrase">` per object; `info["objects"]`
        lists each phrase and box. ScenePromptError (a ValueError) when the prompt names no known object.
    """
    from gfx.svg.scene_compose import SceneConfig, compose_scene

    return compose_scene(prompt, seed, SceneConfig(mode=mode), layout_model=layout_model, icon_model=icon_model)
