"""gfx's own text -> image model: a diffusers UNet over pixel-unshuffled images, conditioned on a small CLIP text
encoder that reads real CLIP BPE ids. It is a diffusers pipeline, saved and loaded like any other:

    pipe = ShapesDiffusionPipeline.from_pretrained("models/shapes-diffusion", local_files_only=True)
    results = pipe("a large red circle to the left of a small blue star", n=4, seed=0)   # list[ImageResult]
    pipe.save_pretrained(directory)       # model_index.json + unet/ text_encoder/ tokenizer/ scheduler/
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from diffusers import DiffusionPipeline

from gfx.config import ConfigMixin
from gfx.image.codec import to_uint8
from gfx.image.denoise import DEFAULT_GUIDANCE, resolved_guidance, text_to_image
from gfx.image.minilm import FrozenMiniLM
from gfx.image.result import ImageResult


@dataclass
class ShapesDiffusionConfig(ConfigMixin):
    """Architecture of a fresh model (`ShapesDiffusionPipeline.build`); the saved pipeline keeps each component's
    own diffusers/transformers config.

    Attributes:
        image_size: side of the generated images in pixels.
        unshuffle: pixel-unshuffle factor: the UNet sees (3 f^2, S / f, S / f).
        channels: UNet block widths, one per resolution; attention at every resolution but the first.
        text_encoder: "clip", a CLIP text model trained with the UNet that reads real CLIP BPE ids; or "minilm", the
            frozen pretrained all-MiniLM-L6-v2 (`gfx.image.minilm`) and its WordPiece tokenizer, whose 384-wide
            states the UNet projects to `text_width`.
        text_width, text_layers, text_heads: the CLIP text encoder (with "minilm": the projected width only).
        max_prompt_tokens: prompts are padded or truncated to this many tokens (BOS and EOS included).
        train_timesteps: the noise schedule's length.
    """

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(channels=(16, 32), text_width=16, text_layers=1, text_heads=2),
        "mini": dict(),
    }

    image_size: int = 64
    unshuffle: int = 4
    channels: tuple[int, ...] = (64, 128)
    text_encoder: str = "clip"
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_prompt_tokens: int = 24
    train_timesteps: int = 1000


class ShapesDiffusionPipeline(DiffusionPipeline):
    """Text -> image: tokenizer and text encoder (a CLIP model trained here, or frozen MiniLM), UNet, DDIM
    scheduler, pixel-unshuffle codec.

    `frozen_text_encoder` names a text encoder that is not saved with the pipeline but loaded from an installed
    package (`FrozenMiniLM.NAME`), None when the text encoder is saved.
    """

    model_cpu_offload_seq = "text_encoder->unet"
    _optional_components = ["text_encoder"]  # left out of a saved pipeline when frozen

    def __init__(self, unet, text_encoder, tokenizer, scheduler, image_size: int = 64, unshuffle: int = 4,
                 guidance: float = DEFAULT_GUIDANCE, frozen_text_encoder: str | None = None):
        super().__init__()
        if text_encoder is None and frozen_text_encoder is not None:
            text_encoder = frozen_encoder(frozen_text_encoder)
        self.register_modules(unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler)
        self.register_to_config(image_size=image_size, unshuffle=unshuffle, guidance=guidance,
                                frozen_text_encoder=frozen_text_encoder)

    @classmethod
    def build(cls, config: ShapesDiffusionConfig, tokenizer) -> ShapesDiffusionPipeline:
        """Fresh (untrained) components for `config`, around an existing `tokenizer` (CLIP's, or MiniLM's with
        `text_encoder="minilm"`)."""
        from diffusers import DDIMScheduler, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel

        c = config
        n = len(c.channels)
        if c.text_encoder not in ("clip", "minilm"):
            raise ValueError(f"text_encoder must be 'clip' or 'minilm', got {c.text_encoder!r}")
        frozen = FrozenMiniLM.NAME if c.text_encoder == "minilm" else None
        projection = dict(encoder_hid_dim=FrozenMiniLM.width, encoder_hid_dim_type="text_proj") if frozen else {}
        unet = UNet2DConditionModel(
            sample_size=c.image_size // c.unshuffle,
            in_channels=3 * c.unshuffle**2,
            out_channels=3 * c.unshuffle**2,
            block_out_channels=tuple(c.channels),
            down_block_types=("CrossAttnDownBlock2D",) * n,
            up_block_types=("CrossAttnUpBlock2D",) * n,
            layers_per_block=1,
            cross_attention_dim=c.text_width,
            attention_head_dim=8,
            norm_num_groups=min(16, c.channels[0]),
            **projection,
        )
        text_encoder = None if frozen else CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=c.text_width, intermediate_size=2 * c.text_width,
            num_hidden_layers=c.text_layers, num_attention_heads=c.text_heads, max_position_embeddings=c.max_prompt_tokens,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        ))
        tokenizer.model_max_length = c.max_prompt_tokens
        # v-prediction: at the cosine schedule's near-zero terminal SNR an epsilon model's x0 estimate is its error
        # divided by sqrt(alpha_bar) (x16 at t = 960), and sampling from pure noise diverges; v stays bounded.
        # Trailing spacing starts sampling at t = 999, the noise level the initial latents actually have.
        scheduler = DDIMScheduler(num_train_timesteps=c.train_timesteps, beta_schedule="squaredcos_cap_v2",
                                  prediction_type="v_prediction", timestep_spacing="trailing",
                                  clip_sample=False, set_alpha_to_one=True)
        return cls(unet, text_encoder, tokenizer, scheduler, image_size=c.image_size, unshuffle=c.unshuffle,
                   frozen_text_encoder=frozen)

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> ShapesDiffusionPipeline:
        """diffusers' `from_pretrained`, float32 unless `dtype` says otherwise (weights are stored in float16:
        `save_half`), quietly: no progress bars or `accelerate` advice for a few small local components."""
        if "torch_dtype" not in kwargs:
            kwargs.setdefault("dtype", torch.float32)
        kwargs.setdefault("low_cpu_mem_usage", False)
        with _no_progress_bar():
            return super().from_pretrained(*args, **kwargs)

    def save_pretrained(self, save_directory: str | Path, **kwargs) -> None:
        """diffusers' `save_pretrained`, leaving out a frozen text encoder (`frozen_text_encoder` loads it back)."""
        encoder = self.text_encoder
        if self.config.frozen_text_encoder is None:
            return super().save_pretrained(save_directory, **kwargs)
        self.register_modules(text_encoder=None)
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            self.register_modules(text_encoder=encoder)

    def save_half(self, directory: str | Path) -> None:
        """`save_pretrained` with float16 weights, half the size; the pipeline itself stays float32."""
        saved = [m for m in (self.unet, self.text_encoder) if not isinstance(m, FrozenMiniLM)]
        for module in saved:
            module.to(torch.float16)
        try:
            self.save_pretrained(directory)
        finally:
            for module in saved:
                module.to(torch.float32)

    @torch.no_grad()
    def __call__(self, prompt: str, n: int = 1, seed: int | None = None, steps: int = 25, guidance: float | None = None,
                 controls: Sequence = (), negative_prompt: str | None = None) -> list[ImageResult]:
        """Generate `n` images for `prompt`.

        Args:
            seed: image i starts from the noise of `seed + i` (None: unseeded).
            steps: DDIM steps; guidance: classifier-free guidance scale (None: the config's `guidance`).
            controls: hooks that steer the loop (`gfx.image.denoise`).
            negative_prompt: what guidance steers away from (None: the empty prompt).

        Returns:
            `n` `ImageResult`s.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        started = time.perf_counter()
        guidance = resolved_guidance(self, guidance)
        images = to_uint8(text_to_image(self, [prompt] * n, seed=seed, steps=steps, guidance=guidance,
                                        controls=controls, negative_prompt=negative_prompt))
        info = {"steps": steps, "guidance": guidance, "controls": [type(c).__name__ for c in controls],
                "seconds": round(time.perf_counter() - started, 3)}
        if negative_prompt:
            info["negative_prompt"] = negative_prompt
        return [ImageResult(image, prompt, None if seed is None else seed + i, info) for i, image in enumerate(images)]


def frozen_encoder(name: str) -> FrozenMiniLM:
    """The frozen text encoder a saved pipeline names in `frozen_text_encoder`."""
    if name != FrozenMiniLM.NAME:
        raise ValueError(f"unknown frozen text encoder {name!r}; gfx knows {FrozenMiniLM.NAME!r}")
    return FrozenMiniLM()


def load_pipeline(directory: str | Path):
    """The pipeline saved in `directory` (local only): gfx's `ShapesDiffusionPipeline`, or the diffusers pipeline
    its model_index.json names (e.g. a `StableDiffusionPipeline`)."""
    index = Path(directory) / "model_index.json"
    if not index.is_file():
        raise FileNotFoundError(f"{directory} holds no pipeline (no model_index.json)")
    name = json.loads(index.read_text()).get("_class_name")
    cls = ShapesDiffusionPipeline if name == ShapesDiffusionPipeline.__name__ else DiffusionPipeline
    return cls.from_pretrained(str(directory), local_files_only=True)


@contextlib.contextmanager
def _no_progress_bar():
    """diffusers' and transformers' progress bars off inside the block, then as they were."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    libraries = [lib for lib in (diffusers_logging, transformers_logging) if lib.is_progress_bar_enabled()]
    for lib in libraries:
        lib.disable_progress_bar()
    try:
        yield
    finally:
        for lib in libraries:
            lib.enable_progress_bar()


AR_PIPELINES = ("HitaPipeline", "XARPipeline")


@functools.lru_cache(maxsize=4)
def load_default(model: str | None = None):
    """The shipped pipeline, a named model (`gfx.models.IMAGE_MODELS`: "hita-mini", "xar-mini") or the pipeline in
    directory `model`, loaded once per process."""
    from gfx import models
    from gfx.checkpoint import load_pretrained, saved_class
    from gfx.models import IMAGE_MODELS, SHIPPED, model_path

    if model in IMAGE_MODELS:
        directory = models.MODELS_DIR / model
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is missing: gfx ships no {model} yet; train it with "
                                    f"`gfx train {IMAGE_MODELS[model]}` (it writes models/{model})")
        return load_pretrained(directory)
    if model is None and "shapes-diffusion" not in SHIPPED:
        raise FileNotFoundError("gfx ships no text -> image model yet; train one with `gfx train shapes-diffusion` "
                                "and pass its directory as model=")
    directory = model_path("shapes-diffusion") if model is None else model
    if Path(directory).is_dir() and saved_class(directory) in AR_PIPELINES:
        return load_pretrained(directory)
    return ShapesDiffusionPipeline.from_pretrained(str(directory), local_files_only=True)
