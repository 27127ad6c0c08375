"""Diffusion helpers shared by the denoisers: diffusers schedulers, condition dropout, guidance.

    sched = scheduler("ddim", train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                      prediction_type="epsilon", clip_sample_range=1.5)
    text = drop_condition(text, model.null_text, p=0.1)        # training, for classifier-free guidance
    eps = guided(eps_cond, eps_uncond, scale=3.0)               # sampling
"""

from __future__ import annotations

import torch
from torch import Tensor

SCHEDULERS = ("ddpm", "ddim")
"""DDPM for training (`add_noise`), DDIM for few-step sampling."""


def scheduler(kind: str, *, train_timesteps: int, beta_schedule: str, prediction_type: str, clip_sample_range: float):
    """A diffusers scheduler with clipped samples.

    Args:
        kind: "ddpm" or "ddim" (`SCHEDULERS`).
        train_timesteps: the noise levels the model was trained on.
        beta_schedule: a diffusers beta schedule name, e.g. "linear", "squaredcos_cap_v2".
        prediction_type: what the model predicts: "epsilon" (the noise) or "sample" (the clean data).
        clip_sample_range: predicted clean samples are clipped to [-range, range].
    """
    if kind not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {kind!r}; valid: {', '.join(SCHEDULERS)}")
    from diffusers import DDIMScheduler, DDPMScheduler  # imported on use: diffusers loads slowly

    cls = DDIMScheduler if kind == "ddim" else DDPMScheduler
    return cls(
        num_train_timesteps=train_timesteps,
        beta_schedule=beta_schedule,
        prediction_type=prediction_type,
        clip_sample=True,
        clip_sample_range=clip_sample_range,
    )


def drop_condition(cond: Tensor, null: Tensor, p: float) -> Tensor:
    """Replace each row's condition by the learned null condition with probability `p` (training for
    classifier-free guidance): cond (B, D), null (D,) -> (B, D)."""
    drop = torch.rand(len(cond), device=cond.device) < p
    return torch.where(drop[:, None], null.expand_as(cond), cond)


def guided(cond: Tensor, uncond: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance on predictions (noise, clean-sample logits, code logits):
    uncond + scale * (cond - uncond); scale 1 returns `cond`."""
    return uncond + scale * (cond - uncond)
