"""The `gfx train shapes-diffusion` recipe: a text -> image diffusion model on the procedural 2D world.

    gfx train shapes-diffusion                 # models/shapes-diffusion, resumes from gfx.train.RUNS_DIR

Every batch is drawn fresh from the world (`gfx.data.shapes2d`), seeded by (seed, epoch, batch), so a resumed run
sees exactly the batches it would have seen; `empty_prompt_prob` of the captions are dropped for classifier-free
guidance. The loss is the standard epsilon-prediction MSE at uniformly drawn timesteps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import WorldConfig, caption, sample_scene
from gfx.image.codec import latent_codec
from gfx.image.denoise import token_ids
from gfx.image.pipeline import ShapesDiffusionConfig, ShapesDiffusionPipeline
from gfx.image.tokenizer import clip_tokenizer
from gfx.paths import shipped

log = logging.getLogger(__name__)

CLIP_BPE = shipped("clip-bpe") / "bpe_simple_vocab_16e6.txt.gz"


@dataclass(frozen=True)
class WorldBatches:
    """`(epoch, start) -> batches` of freshly rendered world scenes.

    Batch b of epoch e is drawn from `default_rng((seed, e, b))`: {"pixels": (B, 3, S, S) float32 in [-1, 1],
    "input_ids": (B, T) int64}.
    """

    tokenizer: object
    batch_size: int
    world: WorldConfig = WorldConfig()
    image_size: int = 64
    empty_prompt_prob: float = 0.1
    batches_per_epoch: int = 500
    seed: int = 0

    def __call__(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        for b in range(start, self.batches_per_epoch):
            yield self.batch(np.random.default_rng((self.seed, epoch, b)))

    def batch(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        scenes = [sample_scene(rng, self.world) for _ in range(self.batch_size)]
        images = np.stack([render(s, self.image_size) for s in scenes])
        prompts = [caption(s, rng, self.world) if rng.random() >= self.empty_prompt_prob else "" for s in scenes]
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
        return {"pixels": pixels, "input_ids": token_ids(self.tokenizer, prompts)}


class DenoiserTraining(nn.Module):
    """The trainable parts of a pipeline (UNet and text encoder) with the epsilon-prediction loss."""

    def __init__(self, pipe: ShapesDiffusionPipeline):
        super().__init__()
        self.unet, self.text_encoder = pipe.unet, pipe.text_encoder
        self.codec, self.scheduler = latent_codec(pipe), pipe.scheduler

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        latents = self.codec.encode(batch["pixels"])  # (B, C, h, w)
        noise = torch.randn_like(latents)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(latents),), device=latents.device)
        noisy = self.scheduler.add_noise(latents, noise, t)
        states = self.text_encoder(batch["input_ids"])[0]  # (B, T, D)
        return F.mse_loss(self.unet(noisy, t, encoder_hidden_states=states).sample, noise)


def train_shapes_diffusion(
    out_dir: str | Path = "models/shapes-diffusion",
    *,
    preset: str = "mini",
    steps: int = 20000,
    batch_size: int = 32,
    lr: float = 5e-4,
    resume: bool = True,
    seed: int = 0,
    progress=None,
    device: str | None = None,
    **_,
) -> dict:
    """Train (or continue training) the pipeline and save it to `out_dir`; returns the run's facts."""
    from gfx.runtime import default_device, seed_everything
    from gfx.train import RUNS_DIR, TrainConfig, train

    out_dir = Path(out_dir)
    seed_everything(seed)
    config = ShapesDiffusionConfig.from_name(preset)
    pipe = ShapesDiffusionPipeline.build(config, clip_tokenizer(CLIP_BPE))
    model = DenoiserTraining(pipe)
    world = WorldConfig()
    device = device or default_device()
    train_config = TrainConfig(steps=steps, lr=lr, warmup_steps=min(500, steps // 10), weight_decay=0.01,
                               eval_every=max(steps // 10, 1), eval_batches=4, checkpoint_every=100, log_every=25,
                               seed=seed)
    val = list(WorldBatches(pipe.tokenizer, batch_size, world, config.image_size, seed=seed + 1,
                            batches_per_epoch=4)(0))
    result = train(model, WorldBatches(pipe.tokenizer, batch_size, world, config.image_size, seed=seed), train_config,
                   val_data=val, out_dir=RUNS_DIR / out_dir.name, resume=resume, callback=progress, device=device)
    model.to("cpu").eval()
    pipe.save_pretrained(out_dir)
    return {"preset": preset, "steps": result.step, "train_loss": result.train_loss, "val_loss": result.val_loss,
            "seconds": round(result.elapsed_s), "parameters": sum(p.numel() for p in model.parameters())}
