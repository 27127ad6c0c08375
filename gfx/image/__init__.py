"""Images: gfx's text -> image diffusion model and controls on diffusion models, on the CPU.

    import gfx
    results = gfx.image.generate("a large red circle to the left of a small blue star", n=4, seed=0)
    results[0].image            # (64, 64, 3) uint8; results[0].save("out.png")
    gfx.image.generate("a large red circle to the left of a small blue star", controls=[ToMe()])  # gfx.image.tome
    gfx.image.generate_set("a large striped {}", ["circle", "star", "heart"], seed=0)              # T2IS
    gfx.image.generate("a large red circle", controls=[GeomErasing("models/geom-erasing")])       # gfx.image.geom_erasing
    gfx.image.generate("a <cross> above a blue circle", controls=[Concept("models/core-concept")])  # gfx.image.core
    gfx.image.generate("a large red circle", controls=[Style("models/style-tokenizer", "ref.png")])  # style_tokenizer

The controls are hooks on one written-out denoising loop (`gfx.image.denoise`); they work on gfx's pipeline
(`gfx.image.pipeline.ShapesDiffusionPipeline`) and on a real `StableDiffusionPipeline` loaded from a local directory.
"""

from __future__ import annotations


def generate(prompt: str, n: int = 1, seed: int | None = None, controls=(), model: str | None = None,
             steps: int = 25, guidance: float | None = None, negative_prompt: str | None = None):
    """Text -> images with the shipped model, a named one (`gfx.models.IMAGE_MODELS`: "hita-mini", "xar-mini", the
    autoregressive Hita and xAR; `steps` is then xAR's flow steps per entity) or the pipeline directory `model`.

    Args:
        negative_prompt: what classifier-free guidance steers away from (None: the empty prompt).

    Returns:
        list of `n` `ImageResult`s.
    """
    from gfx.image.pipeline import load_default

    return load_default(model)(prompt, n=n, seed=seed, steps=steps, guidance=guidance, controls=controls,
                               negative_prompt=negative_prompt)


def generate_set(shared: str, variations, seed: int | None = None, controls=(), model: str | None = None,
                 steps: int = 25, guidance: float | None = None, shared_steps: int = 10, same_noise: bool = False):
    """One instruction -> a coherent set of images, one per variation (T2IS, `gfx.image.t2is.generate_set`).

    `same_noise=True` starts every image from the same noise (pass `shared_steps=0` for it alone); how each way
    of tying a set measures on shapes-diffusion is in docs/papers.md (T2IS).

    Returns:
        list of `len(variations)` `ImageResult`s.
    """
    from gfx.image.pipeline import load_default
    from gfx.image.t2is import generate_set as t2is_set

    return t2is_set(load_default(model), shared, variations, seed, shared_steps=shared_steps, same_noise=same_noise,
                    steps=steps, guidance=guidance, controls=controls)
