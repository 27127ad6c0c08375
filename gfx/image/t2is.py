"""T2IS (text -> image set): one instruction, N images that share identity and style, by attention across the set.

    results = generate_set(pipe, "a large {} heart", ["red", "blue", "green"], seed=0)    # per-image prompts
    results = generate_set(pipe, "a large striped heart", [""] * 3, seed=0)              # N takes of one prompt
    images = text_to_image(pipe, prompts, controls=[SharedAttention(steps=10)])          # the hook itself

The T2IS paper (Jia et al., 2025) generates a set in one pass as panels of one FLUX grid, so every panel's tokens
attend to every other's (in-context consistency) while each panel follows its own sub-prompt. A UNet has no joint
text-image sequence, so the same idea is applied to its self-attention: during the first `steps` denoising steps,
every image's queries attend to the keys and values of all images of the set (its own first), while its
cross-attention reads only its own prompt. After that, each image finishes alone. With a set of one image it is
plain generation.

Two further ways to tie a set, measured beside it by `gfx eval image-ablation`: `anchor=True` shares only the first
image's keys (StyleAligned's reference image, optionally with its AdaIN of queries and keys, `adain=True`), so the
anchor is drawn as it would be alone; `same_noise=True` starts every image from the same noise (`SameNoise`), so
what the prompts leave open starts out the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gfx.image.attention import HookedAttnProcessor, swap_processors
from gfx.image.codec import to_uint8
from gfx.image.denoise import resolved_guidance, text_to_image
from gfx.image.result import ImageResult


class SetAttnProcessor(HookedAttnProcessor):
    """Self-attention over the keys and values of a whole set while `hook.active`.

    The batch is consecutive blocks of `hook.set_size` rows (with classifier-free guidance: [uncond set; cond
    set]); each block is one set. Image i attends to its own keys and to those `hook.sources(i)` allows, the
    other images' keys with weight `hook.cross_weight` (a log bias on their logits).
    """

    def __init__(self, hook: SharedAttention):
        self.hook = hook

    def attend(self, attn, query, key, value, mask):
        n = self.hook.set_size
        batch = key.shape[0]
        if not self.hook.active or n < 2 or batch % n or mask is not None:  # masked self-attention: not shared
            return super().attend(attn, query, key, value, mask)
        heads, tokens, d = key.shape[1:]
        if self.hook.adain:
            query, key = anchor_normalized(query, n), anchor_normalized(key, n)

        def whole_set(x: torch.Tensor) -> torch.Tensor:  # (B, heads, T, d) -> (B, heads, n T, d), same per set
            x = x.reshape(batch // n, n, heads, tokens, d).transpose(1, 2).reshape(batch // n, heads, n * tokens, d)
            return x.repeat_interleave(n, dim=0)

        bias = self.hook.block_bias(n).to(query.dtype).repeat(batch // n, 1)  # (B, n): per key block
        bias = bias.repeat_interleave(tokens, dim=1)[:, None, None, :]  # (B, 1, 1, n T)
        return F.scaled_dot_product_attention(query, whole_set(key), whole_set(value), attn_mask=bias,
                                              dropout_p=0.0, is_causal=False)


def anchor_normalized(x: torch.Tensor, n: int) -> torch.Tensor:
    """StyleAligned's AdaIN: each image's (B, heads, T, d) features take the mean and std over tokens of its
    set's first image (the anchor), so that shared keys meet queries of one scale."""
    sets = x.reshape(-1, n, *x.shape[1:])
    mean, std = sets.mean(3, keepdim=True), sets.std(3, keepdim=True) + 1e-5
    out = (sets - mean) / std * std[:, :1] + mean[:, :1]
    return out.reshape(x.shape)


class SharedAttention:
    """A denoising hook: the images of the batch form one set whose self-attention is shared for `steps` steps.

    Args:
        steps: how many of the first denoising steps share attention (the rest run per image).
        anchor: image 0 is the set's anchor: it attends only to itself and the others to themselves and to it
            (StyleAligned); False: every image attends to every image (T2IS's in-context panels).
        cross_weight: the weight of another image's keys against one's own (1: equal).
        adain: normalize each image's queries and keys to the anchor's statistics while shared.
    """

    def __init__(self, steps: int = 10, *, anchor: bool = False, cross_weight: float = 1.0, adain: bool = False):
        if cross_weight <= 0:
            raise ValueError(f"cross_weight must be > 0, got {cross_weight}")
        self.steps, self.anchor, self.cross_weight, self.adain = steps, anchor, cross_weight, adain
        self.set_size = 0
        self.active = False
        self._swap = None

    def block_bias(self, n: int) -> torch.Tensor:
        """(n, n) additive logit bias of image i's queries (row) on image j's keys (column)."""
        allowed = torch.ones(n, n, dtype=torch.bool)
        if self.anchor:
            allowed = torch.eye(n, dtype=torch.bool)
            allowed[:, 0] = True
        bias = torch.full((n, n), math.log(self.cross_weight))
        bias[~allowed] = -math.inf
        return bias.fill_diagonal_(0.0)

    def setup(self, pipe, prompts: Sequence[str] | None) -> None:
        if prompts is None:
            raise ValueError("SharedAttention needs the set's prompts: run it through text_to_image or pass prompts=")
        self.set_size, self.active = len(prompts), False
        self._swap = swap_processors(pipe.unet, lambda attn: not attn.is_cross_attention,
                                     lambda attn: SetAttnProcessor(self))
        self._swap.__enter__()

    def before_step(self, step: int, t, latents: torch.Tensor, cond: torch.Tensor):
        self.active = step < self.steps
        return latents, cond

    def teardown(self, pipe) -> None:
        self.active = False
        self._swap.__exit__(None, None, None)


class SameNoise:
    """A denoising hook: every image of the batch starts from the first image's noise, so that what the prompts
    leave open (colour, style, layout) starts out the same across the set."""

    def before_step(self, step: int, t, latents: torch.Tensor, cond: torch.Tensor):
        if step == 0:
            latents = latents[:1].expand_as(latents).clone()
        return latents, cond


def set_prompts(shared: str, variations: Sequence[str]) -> list[str]:
    """One prompt per image: `shared` with "{}" filled by each variation, or the variation appended to it."""
    if not variations:
        raise ValueError("a set needs at least one variation (use [''] * N for N takes of one prompt)")
    if "{}" in shared:
        return [" ".join(shared.replace("{}", v).split()) for v in variations]
    return [" ".join(f"{shared} {v}".split()) for v in variations]


def generate_set(pipe, shared: str, variations: Sequence[str], seed: int | None = None, *, shared_steps: int = 10,
                 anchor: bool = False, same_noise: bool = False, steps: int = 25, guidance: float | None = None,
                 controls: Sequence = ()) -> list[ImageResult]:
    """One instruction -> a coherent set of images, one per variation.

    Args:
        shared: what the set has in common, e.g. "a large striped {} heart" or "a dotted circle".
        variations: what each image varies ("" for none); see `set_prompts`.
        seed: image i starts from the noise of `seed + i`, as `n` independent samples would (`same_noise`: all
            from the noise of `seed`).
        shared_steps: the first steps with attention shared across the set (0: none).
        anchor: share the first image's attention only (`SharedAttention`), not every image's.
        same_noise: every image starts from the same noise (`SameNoise`).
        controls: further hooks (e.g. ToMe), run after the set's own.

    Returns:
        one `ImageResult` per variation.
    """
    started = time.perf_counter()
    prompts = set_prompts(shared, variations)
    if same_noise and len(set(prompts)) < len(prompts):
        raise ValueError("same_noise needs a different prompt per image: the same prompt from the same noise is "
                         "the same picture; vary the prompts or leave same_noise off")
    hooks = ([SharedAttention(shared_steps, anchor=anchor)] if shared_steps else []) + (
        [SameNoise()] if same_noise else []) + list(controls)
    guidance = resolved_guidance(pipe, guidance)
    images = to_uint8(text_to_image(pipe, prompts, seed=seed, steps=steps, guidance=guidance, controls=hooks))
    info = {"steps": steps, "guidance": guidance, "set": len(prompts), "shared_steps": shared_steps,
            "anchor": anchor, "same_noise": same_noise, "controls": [type(c).__name__ for c in hooks],
            "seconds": round(time.perf_counter() - started, 3)}
    return [ImageResult(image, prompt, None if seed is None else seed + (0 if same_noise else i), info)
            for i, (image, prompt) in enumerate(zip(images, prompts, strict=True))]
