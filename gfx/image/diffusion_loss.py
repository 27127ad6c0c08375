"""The denoiser's training objective, per latent position so that callers can weight it.

A clean latent is noised at uniformly drawn timesteps and the UNet's output is compared with the scheduler's own
prediction target: the noise (epsilon), the velocity (v_prediction, `scheduler.get_velocity`) or the clean sample.

    error = denoising_error(pipe.unet, pipe.scheduler, latents, states)    # (B, C, h, w)
    loss = error.mean()                                                     # plain MSE; or (weights * error).mean()
"""

from __future__ import annotations

import torch


def prediction_target(scheduler, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the denoiser predicts at timesteps `t` (B,) for clean `latents` noised with `noise`, both (B, C, h, w)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, t)
    if kind == "sample":
        return latents
    raise ValueError(f"scheduler prediction_type {kind!r} is not epsilon, v_prediction or sample")


def noised(scheduler, latents: torch.Tensor, t: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(noisy latents, noise, timesteps): `latents` (B, C, h, w) noised at timesteps `t` (B,), by default one
    uniformly drawn timestep per row."""
    noise = torch.randn_like(latents)
    if t is None:
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(latents),), device=latents.device)
    return scheduler.add_noise(latents, noise, t), noise, t


def denoising_error(unet, scheduler, latents: torch.Tensor, states: torch.Tensor,
                    t: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error of the denoiser against its target at timesteps `t` (B,), by default uniformly drawn.

    Args:
        latents: (B, C, h, w) clean latents; states: (B, T, D) text-encoder states.

    Returns:
        (B, C, h, w) squared error.
    """
    noisy, noise, t = noised(scheduler, latents, t)
    target = prediction_target(scheduler, latents, noise, t)
    return (unet(noisy, t, encoder_hidden_states=states).sample - target) ** 2
