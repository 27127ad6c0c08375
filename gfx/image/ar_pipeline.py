"""What gfx's autoregressive text -> image pipelines (Hita, xAR) share: MiniLM text conditioning with an
unconditional branch for classifier-free guidance, and the `gfx.image.generate` call contract.

A subclass implements `sample(condition, n, seed, steps, guidance, use_cache) -> (n, 3, S, S)` pixels in [-1, 1];
`__call__` turns a prompt into `ImageResult`s like the diffusion pipeline does:

    results = pipe("a large red circle", n=4, seed=0)     # list[ImageResult]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gfx.image.codec import to_uint8
from gfx.image.result import ImageResult


@dataclass(frozen=True)
class TextCondition:
    """MiniLM token states of the prompts and of the unconditional branch.

    Attributes:
        prefix: (B, P, 384) float32; prefix_mask: (B, P) bool, False on padding.
        uncond: (B, P', 384) the negative prompt's states, or None (the condition masked out);
        uncond_mask: (B, P') bool or None.
    """

    prefix: torch.Tensor
    prefix_mask: torch.Tensor
    uncond: torch.Tensor | None = None
    uncond_mask: torch.Tensor | None = None

    @classmethod
    def of(cls, prompts: Sequence[str], negative_prompt: str | None = None, max_tokens: int = 32,
           device: str | torch.device = "cpu") -> TextCondition:
        """The condition of `prompts` (B of them) with `negative_prompt` as the unconditional branch."""
        from gfx.backbones.text_encoder import prompt_prefix

        prefix, mask = prompt_prefix(list(prompts), max_tokens=max_tokens)
        uncond = uncond_mask = None
        if negative_prompt:
            uncond, uncond_mask = prompt_prefix([negative_prompt] * len(prompts), max_tokens=max_tokens)
            uncond, uncond_mask = uncond.to(device), uncond_mask.to(device)
        return cls(prefix.to(device), mask.to(device), uncond, uncond_mask)

    def rows(self, guided: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's prefix rows: (B or 2B, P, 384) and their mask; under guidance the conditional rows, then the
        unconditional ones (the negative prompt, or the prefix fully masked out)."""
        if not guided:
            return self.prefix, self.prefix_mask
        if self.uncond is None:
            uncond, uncond_mask = torch.zeros_like(self.prefix), torch.zeros_like(self.prefix_mask)
        else:
            uncond, uncond_mask = self.uncond, self.uncond_mask
        width = max(self.prefix.shape[1], uncond.shape[1])

        def pad(x):
            return torch.nn.functional.pad(x, (0, 0, 0, width - x.shape[1]) if x.dim() == 3 else (0, width - x.shape[1]))

        return (torch.cat([pad(self.prefix), pad(uncond)]), torch.cat([pad(self.prefix_mask), pad(uncond_mask)]))


class ARImagePipeline:
    """The `gfx.image.generate` contract of an autoregressive image pipeline (see the module docstring)."""

    max_prompt_tokens: int = 32
    default_steps: int = 0  # flow steps per entity (xAR); 0: the model takes none (Hita)
    default_guidance: float = 3.0  # subclasses read both from their saved sampling settings

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    def sample(self, condition: TextCondition, n: int, seed: int | None, steps: int, guidance: float,
               use_cache: bool = True) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, prompt: str, n: int = 1, seed: int | None = None, steps: int | None = None,
                 guidance: float | None = None, controls: Sequence = (), negative_prompt: str | None = None,
                 use_cache: bool = True) -> list[ImageResult]:
        """Generate `n` images for `prompt`.

        Args:
            seed: seeds the whole batch (None: unseeded).
            steps: flow steps per entity (xAR; ignored by Hita); None: the model's default.
            guidance: classifier-free guidance scale (1: off); None: the model's default.
            controls: must be empty: ToMe and the other controls hook a diffusion UNet.
            negative_prompt: the unconditional branch's text (None: no text).
            use_cache: False recomputes the whole sequence every step (the reference for tests and benches).
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if controls:
            raise ValueError(f"{type(self).__name__} takes no controls (they steer a diffusion UNet); got "
                             f"{[type(c).__name__ for c in controls]}")
        steps = self.default_steps if steps is None else steps
        guidance = self.default_guidance if guidance is None else guidance
        started = time.perf_counter()
        condition = TextCondition.of([prompt] * n, negative_prompt, self.max_prompt_tokens, self.device)
        images = to_uint8(self.sample(condition, n, seed, steps, guidance, use_cache))
        info = {"model": type(self).__name__, "guidance": guidance, "seconds": round(time.perf_counter() - started, 3)}
        if steps:
            info["steps"] = steps
        if negative_prompt:
            info["negative_prompt"] = negative_prompt
        return [ImageResult(image, prompt, seed, info) for image in images]
