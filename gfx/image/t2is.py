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
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gfx.image.attention import HookedAttnProcessor, swap_processors
from gfx.image.codec import to_uint8
from gfx.image.denoise import text_to_image
from gfx.image.result import ImageResult


class SetAttnProcessor(HookedAttnProcessor):
    """Self-attention over the keys and values of a whole set while `hook.active`.

    The batch is consecutive blocks of `hook.set_size` rows (with classifier-free guidance: [uncond set; cond
    set]); each block is one set, and its images attend to the same keys: all of the set's.
    """

    def __init__(self, hook: SharedAttention):
        self.hook = hook

    def attend(self, attn, query, key, value, mask):
        n = self.hook.set_size
        batch = key.shape[0]
        if not self.hook.active or n < 1 or batch % n or mask is not None:  # masked self-attention: not shared
            return super().attend(attn, query, key, value, mask)
        heads, tokens, d = key.shape[1:]

        def whole_set(x: torch.Tensor) -> torch.Tensor:  # (B, heads, T, d) -> (B, heads, n T, d), same per set
            x = x.reshape(batch // n, n, heads, tokens, d).transpose(1, 2).reshape(batch // n, heads, n * tokens, d)
            return x.repeat_interleave(n, dim=0)

        key, value = whole_set(key), whole_set(value)
        return F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)


class SharedAttention:
    """A denoising hook: the images of the batch form one set whose self-attention is shared for `steps` steps.

    Args:
        steps: how many of the first denoising steps share attention (the rest run per image).
    """

    def __init__(self, steps: int = 10):
        self.steps = steps
        self.set_size = 0
        self.active = False
        self._swap = None

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


def set_prompts(shared: str, variations: Sequence[str]) -> list[str]:
    """One prompt per image: `shared` with "{}" filled by each variation, or the variation appended to it."""
    if not variations:
        raise ValueError("a set needs at least one variation (use [''] * N for N takes of one prompt)")
    if "{}" in shared:
        return [" ".join(shared.replace("{}", v).split()) for v in variations]
    return [" ".join(f"{shared} {v}".split()) for v in variations]


def generate_set(pipe, shared: str, variations: Sequence[str], seed: int | None = None, *, shared_steps: int = 10,
                 steps: int = 25, guidance: float = 3.0, controls: Sequence = ()) -> list[ImageResult]:
    """One instruction -> a coherent set of images, one per variation.

    Args:
        shared: what the set has in common, e.g. "a large striped {} heart" or "a dotted circle".
        variations: what each image varies ("" for none); see `set_prompts`.
        seed: image i starts from the noise of `seed + i`, as `n` independent samples would.
        shared_steps: the first steps with attention shared across the set (0: independent samples).
        controls: further hooks (e.g. ToMe), run after the shared attention is installed.

    Returns:
        one `ImageResult` per variation.
    """
    started = time.perf_counter()
    prompts = set_prompts(shared, variations)
    hooks = [SharedAttention(shared_steps), *controls] if shared_steps else list(controls)
    images = to_uint8(text_to_image(pipe, prompts, seed=seed, steps=steps, guidance=guidance, controls=hooks))
    info = {"steps": steps, "guidance": guidance, "set": len(prompts), "shared_steps": shared_steps,
            "controls": [type(c).__name__ for c in hooks], "seconds": round(time.perf_counter() - started, 3)}
    return [ImageResult(image, prompt, None if seed is None else seed + i, info)
            for i, (image, prompt) in enumerate(zip(images, prompts, strict=True))]
