"""Tiny random image pipelines: a real `StableDiffusionPipeline` (UNet, VAE, CLIP text encoder, the real CLIP BPE,
DDIM) saved and loaded back with `from_pretrained(dir, local_files_only=True)`, and two tiny gfx
`ShapesDiffusionPipeline`s, one with its own CLIP text encoder and one reading frozen MiniLM. Random weights test
plumbing, exact equivalences and gradients, not image quality."""

import pytest
import torch

from gfx.image.pipeline import ShapesDiffusionConfig, ShapesDiffusionPipeline
from gfx.image.tokenizer import clip_tokenizer
from gfx.recipes.shapes_diffusion import CLIP_BPE

SD_SIZE = 32
"""Pixels of the tiny SD pipeline's images (latents 16x16: its VAE halves the side)."""


@pytest.fixture(scope="session")
def clip_bpe_tokenizer():
    return clip_tokenizer(CLIP_BPE, max_length=16)


def tiny_sd_components(tokenizer) -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        layers_per_block=1, norm_num_groups=8)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
                safety_checker=None, feature_extractor=None, requires_safety_checker=False)


@pytest.fixture(scope="session")
def sd_pipe(tmp_path_factory, clip_bpe_tokenizer):
    """A tiny random Stable Diffusion pipeline, loaded from the directory it was saved to."""
    from diffusers import StableDiffusionPipeline

    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("tiny-sd")
    StableDiffusionPipeline(**tiny_sd_components(clip_bpe_tokenizer)).save_pretrained(directory)
    pipe = StableDiffusionPipeline.from_pretrained(directory, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def shapes_pipe(clip_bpe_tokenizer):
    """A tiny random gfx text -> image pipeline (64 px, pixel-unshuffled to 16x16x48)."""
    import copy

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return ShapesDiffusionPipeline.build(ShapesDiffusionConfig.from_name("tiny"), copy.deepcopy(clip_bpe_tokenizer))


@pytest.fixture(scope="session")
def minilm_pipe():
    """The tiny gfx pipeline with frozen MiniLM token states (the real pretrained encoder) instead of CLIP."""
    from gfx.backbones.text_encoder import minilm_tokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return ShapesDiffusionPipeline.build(ShapesDiffusionConfig.from_name("tiny", text_encoder="minilm"),
                                         minilm_tokenizer())


PIPELINES = ["sd", "shapes", "minilm"]


@pytest.fixture(params=PIPELINES)
def pipe(request):
    """Each test that takes `pipe` runs on every pipeline."""
    return request.getfixturevalue(f"{request.param}_pipe")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, request):
    """{kind: dir} of the tiny pipelines, so each test loads fresh copies it may change."""
    dirs = {}
    for name in PIPELINES:
        dirs[name] = tmp_path_factory.mktemp(f"{name}-base")
        request.getfixturevalue(f"{name}_pipe").save_pretrained(dirs[name])
    return dirs


def fresh(saved: dict, kind: str):
    """A fresh copy of the saved tiny pipeline `kind` (one of `PIPELINES`), which a test may change."""
    from gfx.image.pipeline import load_pipeline

    pipe = load_pipeline(saved[kind])
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(params=PIPELINES)
def kind(request):
    return request.param
