"""Classifier-free guidance for decoding: an unconditional branch of rows beside the conditional ones.

    out = generate(model, prompt, prefix=text_states, guidance=Guidance(3.0), max_new_tokens=256)

Under guidance the model runs 2B rows: the B prompts with their condition, then B rows of the
unconditional branch (by default the same prompts with the prefix masked out). Each step the two
branches' logits are combined with `sampling.guide`, and the chosen token is fed to both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gfx.backbones.sampling import guide


@dataclass(frozen=True, eq=False)
class Guidance:
    """Classifier-free guidance settings.

    Attributes:
        scale: 1 disables guidance (one branch); > 1 strengthens the condition.
        uncond_prompt: (1 or B, T') long, the unconditional branch's prompt; default the prompt.
        uncond_prompt_mask: (1 or B, T') bool, False on its left padding.
        uncond_prefix: (B, P', prefix_dim) the unconditional branch's prefix; default the prefix
            fully masked out (the model sees no condition).
        uncond_prefix_mask: (B, P') bool, False for its padded entries.
    """

    scale: float
    uncond_prompt: Tensor | None = None
    uncond_prompt_mask: Tensor | None = None
    uncond_prefix: Tensor | None = None
    uncond_prefix_mask: Tensor | None = None

    @property
    def branches(self) -> int:
        """Model rows per output row: 2 under guidance, 1 when `scale` is 1."""
        return 1 if self.scale == 1.0 else 2

    def rows(
        self, prompt: Tensor, prompt_mask: Tensor | None, prefix: Tensor | None, prefix_mask: Tensor | None, pad_id: int
    ) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
        """The model's rows: the prompts, then the unconditional branch (shapes as in `generate`).

        Returns:
            tokens: (branches * B, T) long, left-padded to the longer prompt; mask: (branches * B, T) bool;
            prefix: (branches * B, P, prefix_dim) or None; prefix_mask: (branches * B, P) bool or None.
        """
        if self.branches == 1:
            return prompt, prompt_mask, prefix, prefix_mask
        B = prompt.shape[0]
        u_prompt = prompt if self.uncond_prompt is None else self.uncond_prompt
        u_prompt_mask = self.uncond_prompt_mask
        if u_prompt_mask is None and u_prompt is prompt:
            u_prompt_mask = prompt_mask
        p_mask = prompt_mask if prompt_mask is not None else _all_valid(prompt)
        u_mask = u_prompt_mask if u_prompt_mask is not None else _all_valid(u_prompt)
        width = max(prompt.shape[1], u_prompt.shape[1])
        tokens = torch.cat(
            [
                F.pad(prompt, (width - prompt.shape[1], 0), value=pad_id),
                F.pad(u_prompt.expand(B, -1), (width - u_prompt.shape[1], 0), value=pad_id),
            ]
        )
        mask = torch.cat(
            [F.pad(p_mask, (width - p_mask.shape[1], 0)), F.pad(u_mask.expand(B, -1), (width - u_mask.shape[1], 0))]
        )
        if prefix is None:
            return tokens, mask, None, None
        pre_mask = prefix_mask if prefix_mask is not None else _all_valid(prefix)
        if self.uncond_prefix is None:
            u_prefix, u_pre_mask = torch.zeros_like(prefix), torch.zeros_like(pre_mask)
        else:
            u_prefix = self.uncond_prefix
            u_pre_mask = self.uncond_prefix_mask if self.uncond_prefix_mask is not None else _all_valid(u_prefix)
        P = max(prefix.shape[1], u_prefix.shape[1])
        both = torch.cat(
            [F.pad(prefix, (0, 0, 0, P - prefix.shape[1])), F.pad(u_prefix, (0, 0, 0, P - u_prefix.shape[1]))]
        )
        both_mask = torch.cat(
            [F.pad(pre_mask, (0, P - pre_mask.shape[1])), F.pad(u_pre_mask, (0, P - u_pre_mask.shape[1]))]
        )
        return tokens, mask, both, both_mask

    def scores(self, logits: Tensor) -> Tensor:
        """Next-token scores of the output rows: logits (branches * B, V) -> (B, V) float."""
        if self.branches == 1:
            return logits.float()
        cond, uncond = logits.chunk(2)
        return guide(cond, uncond, self.scale)


NO_GUIDANCE = Guidance(1.0)
"""One branch: the scores are the conditional logits."""


def _all_valid(t: Tensor) -> Tensor:
    """(B, T) all-True mask for a (B, T, ...) tensor."""
    return torch.ones(t.shape[:2], dtype=torch.bool, device=t.device)
