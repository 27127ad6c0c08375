"""The denoising loop, written out, with hooks that controls use to steer it.

Works on any pipeline with `unet`, `text_encoder`, `tokenizer`, `scheduler` and a latent codec
(`gfx.image.codec.latent_codec`): gfx's pixel-space models and a real `StableDiffusionPipeline` alike.

    cond, uncond = encode_prompts(pipe, ["a red circle"]), encode_prompts(pipe, [""])
    latents = denoise(pipe, cond, uncond, initial_latents(pipe, 1, 64, 64, seed=0), steps=25, guidance=3.0)
    images = latent_codec(pipe).decode(latents)

A hook is any object with some of: `setup(pipe, prompts)` (read the prompts, install attention processors),
`before_step(step, t, latents, cond) -> (latents, cond)` (edit the latent or the prompt states before a step, e.g.
ToMe's updates; the denoiser runs under `torch.no_grad`, so a hook that needs gradients enables them itself) and
`teardown(pipe)`; hooks run in order. `text_to_image` does the whole prompt -> pictures path for any pipeline, and
asks each control with a `negative(pipe) -> str` method for text to add to the negative prompt before it encodes
it (Geom-Erasing's learned concept): the negative prompt replaces the empty prompt of classifier-free guidance.
A control with `guidance_terms(pipe) -> [(text, weight), ...]` instead adds each text as a term of its own
(Composable Diffusion): `weight * (eps(text) - eps(uncond))` joins the guided noise, a negative weight steering away
from the text without touching the prompt's own guidance (one more denoiser branch per term). A weight may instead
be a function of the loop's progress (step / steps, 0 at pure noise), e.g. a negative that acts only in the first
half of the steps; a term whose weight is 0 at a step costs no denoiser branch there. A weight (or what its function
returns) may also be a map over the image, (1 or B, 1, gh, gw), resized to the latent by nearest neighbour: the term
acts where the map is non-zero, e.g. only in the corners where a watermark goes.
Before any encoding it also calls each control's `prepare(pipe)` (put learned token vectors into the pipeline's
table: a CoRe concept, style tokens) and passes each prompt through its `rewrite_prompt(text) -> text` (the style
tokens' placeholders in front).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from gfx.image.codec import latent_codec

Weight = float | torch.Tensor | Callable[[float], float | torch.Tensor]
"""A guidance term's weight: a number or a (1 or B, 1, gh, gw) map over the image, or a function of the progress
(step / steps, 0 at pure noise) returning one."""


def checked_window(window: tuple[float, float] | None, name: str = "window") -> tuple[float, float] | None:
    """`window` (start, end) as floats, or ValueError unless 0 <= start < end <= 1 (fractions of the steps); None
    stays None."""
    if window is None:
        return None
    start, end = (float(v) for v in window)
    if not 0 <= start < end <= 1:
        raise ValueError(f"{name} {(start, end)} needs 0 <= start < end <= 1 (fractions of the denoising steps)")
    return start, end


def in_window(window: tuple[float, float], progress: float) -> bool:
    """Whether `progress` (step / steps, 0 at pure noise) falls in `window` [start, end)."""
    return window[0] <= progress < window[1]


DEFAULT_GUIDANCE = 3.0
"""Classifier-free guidance scale of a pipeline whose config names none (a plain StableDiffusionPipeline)."""


def encode_prompts(pipe, prompts: Sequence[str]) -> torch.Tensor:
    """(B, T, D) text-encoder states of `prompts`, padded to the tokenizer's `model_max_length`."""
    ids = token_ids(pipe.tokenizer, prompts).to(pipe.unet.device)
    return pipe.text_encoder(ids)[0]


def token_ids(tokenizer, prompts: Sequence[str]) -> torch.Tensor:
    """(B, T) int64 ids, padded and truncated to `model_max_length`."""
    return tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids


def initial_latents(pipe, n: int, height: int, width: int, seed: int | None = None) -> torch.Tensor:
    """(n, C, h, w) standard normal latents; row i comes from `seed + i`, so a batch of one row reproduces row i."""
    shape = latent_codec(pipe).latent_shape(height, width)
    if seed is None:
        return torch.randn(n, *shape, device=pipe.unet.device)
    rows = [torch.randn(shape, generator=torch.Generator().manual_seed(seed + i)) for i in range(n)]
    return torch.stack(rows).to(pipe.unet.device)


def resolved_guidance(pipe, guidance: float | None = None) -> float:
    """`guidance`, or where None the pipeline's classifier-free guidance scale: its config's `guidance` (chosen on
    val when it was trained), else `DEFAULT_GUIDANCE`."""
    if guidance is not None:
        return guidance
    return float(getattr(pipe.config, "guidance", None) or DEFAULT_GUIDANCE)


def denoise(pipe, cond: torch.Tensor, uncond: torch.Tensor, latents: torch.Tensor, *, steps: int = 25,
            guidance: float = DEFAULT_GUIDANCE, hooks: Sequence = (), prompts: Sequence[str] | None = None,
            terms: Sequence[tuple[torch.Tensor, Weight]] = ()) -> torch.Tensor:
    """Run the scheduler from noise to a clean latent.

    Args:
        cond: (B, T, D) prompt states; uncond: (1 or B, T, D) states of the empty (or negative) prompt for
            classifier-free guidance.
        latents: (B, C, h, w) initial noise (unscaled).
        guidance: classifier-free guidance scale (1 = conditional only).
        hooks: controls that steer the loop (see the module docstring).
        prompts: the B prompt texts of `cond`, for hooks that read them (ToMe, T2IS).
        terms: ((1, T, D) states, weight) pairs, each adding `weight * (eps(states) - eps(uncond))` to the guided
            noise (Composable Diffusion; a negative weight steers away); a callable weight is asked at each step
            for the progress step / steps; a map weight (1 or B, 1, gh, gw) is resized to the latent (nearest).

    Returns:
        (B, C, h, w) final latents.
    """
    scheduler = pipe.scheduler
    uncond = uncond.expand(len(cond), -1, -1)
    done = []
    try:
        for hook in hooks:
            if hasattr(hook, "setup"):
                hook.setup(pipe, prompts)
            done.append(hook)
        # 1. timesteps and the scheduler's starting noise scale
        scheduler.set_timesteps(steps, device=latents.device)
        latents = latents * scheduler.init_noise_sigma
        for i, t in enumerate(scheduler.timesteps):
            # 2. controls edit the latent or the prompt states
            for hook in hooks:
                if hasattr(hook, "before_step"):
                    latents, cond = hook.before_step(i, t, latents, cond)
            # 3. one denoiser call on [uncond; cond; the terms active now], then guidance
            weights = [w(i / len(scheduler.timesteps)) if callable(w) else w for _, w in terms]
            active = [(states, latent_weight(w, latents)) for (states, _), w in zip(terms, weights, strict=True)
                      if (w.any() if torch.is_tensor(w) else w)]
            extra = [states.expand(len(cond), -1, -1) for states, _ in active]
            with torch.no_grad():
                model_in = scheduler.scale_model_input(torch.cat([latents] * (2 + len(extra))), t)
                noise = pipe.unet(model_in, t, encoder_hidden_states=torch.cat([uncond, cond, *extra])).sample
            noise_uncond, noise_cond, *noise_terms = noise.chunk(2 + len(extra))
            noise = noise_uncond + guidance * (noise_cond - noise_uncond)
            for (_, weight), noise_term in zip(active, noise_terms, strict=True):
                noise = noise + weight * (noise_term - noise_uncond)
            # 4. the scheduler's step to the next, less noisy latent
            latents = scheduler.step(noise, t, latents).prev_sample
    finally:
        for hook in reversed(done):
            if hasattr(hook, "teardown"):
                hook.teardown(pipe)
    return latents


def latent_weight(weight: float | torch.Tensor, latents: torch.Tensor) -> float | torch.Tensor:
    """A number as it is; a (1 or B, 1, gh, gw) map resized by nearest neighbour to `latents`' (h, w)."""
    if not torch.is_tensor(weight):
        return weight
    if weight.ndim != 4 or weight.shape[1] != 1:
        raise ValueError(f"a map weight is (1 or B, 1, gh, gw), got {tuple(weight.shape)}")
    weight = weight.to(latents.device, latents.dtype)
    return F.interpolate(weight, size=latents.shape[-2:], mode="nearest-exact")


def image_size(pipe) -> tuple[int, int]:
    """(height, width) a pipeline generates by default: its `image_size`, else the UNet's sample size in pixels."""
    size = getattr(pipe.config, "image_size", None)
    if size is None:
        size = pipe.unet.config.sample_size * latent_codec(pipe).factor
    return int(size), int(size)


def negative_text(pipe, negative_prompt: str | None, controls: Sequence = ()) -> str:
    """The negative prompt of classifier-free guidance: `negative_prompt` and what each control's `negative(pipe)`
    adds, joined by spaces ("" when there is none: plain guidance)."""
    parts = [negative_prompt or ""] + [c.negative(pipe) for c in controls if hasattr(c, "negative")]
    return " ".join(p for p in parts if p)


def rewritten(prompt: str, controls: Sequence = ()) -> str:
    """`prompt` through each control's `rewrite_prompt`, in order."""
    for control in controls:
        if hasattr(control, "rewrite_prompt"):
            prompt = control.rewrite_prompt(prompt)
    return prompt


@torch.no_grad()
def text_to_image(pipe, prompts: Sequence[str], *, seed: int | None = None, steps: int = 25,
                  guidance: float | None = None,
                  controls: Sequence = (), negative_prompt: str | None = None, height: int | None = None,
                  width: int | None = None) -> torch.Tensor:
    """Prompts -> images on any pipeline with `unet`, `text_encoder`, `tokenizer`, `scheduler` (and `vae`).

    Args:
        prompts: one prompt per image.
        seed: image i starts from the noise of `seed + i`.
        guidance: classifier-free guidance scale (None: `resolved_guidance(pipe)`).
        controls: hooks (see the module docstring), given `prompts` at setup.
        negative_prompt: what guidance steers away from, for every image (None or "": the empty prompt).
        height, width: in pixels (default: `image_size(pipe)`).

    Returns:
        (B, 3, H, W) images in [-1, 1].
    """
    default_h, default_w = image_size(pipe)
    # 0. controls install their token vectors and rewrite the prompts
    for control in controls:
        if hasattr(control, "prepare"):
            control.prepare(pipe)
    prompts = [rewritten(p, controls) for p in prompts]
    # 1. prompt states, and the negative prompt's (empty unless given or added by controls) for guidance
    uncond = encode_prompts(pipe, [negative_text(pipe, negative_prompt, controls)])
    cond = encode_prompts(pipe, prompts)
    terms = [(encode_prompts(pipe, [text]), weight) for c in controls if hasattr(c, "guidance_terms")
             for text, weight in c.guidance_terms(pipe)]
    # 2. noise, denoised under the controls
    latents = initial_latents(pipe, len(prompts), height or default_h, width or default_w, seed)
    guidance = resolved_guidance(pipe, guidance)
    latents = denoise(pipe, cond, uncond, latents, steps=steps, guidance=guidance, hooks=controls, prompts=prompts,
                      terms=terms)
    # 3. back to pixels
    return latent_codec(pipe).decode(latents)
