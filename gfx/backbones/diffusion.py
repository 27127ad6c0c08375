"""Helpers shared by conditional generators: condition dropout and classifier-free guidance.

    text = drop_condition(text, model.null_text, p=0.1)        # training, for classifier-free guidance
    eps = guided(eps_cond, eps_uncond, scale=3.0)               # sampling
"""

from __future__ import annotations

import torch
from torch import Tensor


def drop_condition(cond: Tensor, null: Tensor, p: float) -> Tensor:
    """Replace each row's condition by the learned null condition with probability `p` (training for
    classifier-free guidance): cond (B, D), null (D,) -> (B, D)."""
    drop = torch.rand(len(cond), device=cond.device) < p
    return torch.where(drop[:, None], null.expand_as(cond), cond)


def guided(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance on predictions (noise, clean-sample logits, code logits):
    uncond + scale * (cond - uncond); scale 1 returns `cond`."""
    return uncond + scale * (cond - uncond)
