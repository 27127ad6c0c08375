"""Attention hooks: the capturing processor reproduces the default outputs bit for bit, records (B, heads, HW, T)
probabilities chosen by query count, keeps autograd, and hands the original processors back."""

import pytest
import torch

from gfx.image.attention import AttentionCapture, AttentionStore, attention_modules, capture_cross_attention
from gfx.image.denoise import encode_prompts, text_to_image


def unet_inputs(pipe, batch=2):
    generator = torch.Generator().manual_seed(0)
    config = pipe.unet.config
    latents = torch.randn(batch, config.in_channels, config.sample_size, config.sample_size, generator=generator)
    return latents, torch.tensor(500), encode_prompts(pipe, ["a large red circle"] * batch)


def test_capture_reproduces_the_default_output_exactly(pipe):
    latents, t, states = unet_inputs(pipe)
    with torch.no_grad():
        plain = pipe.unet(latents, t, encoder_hidden_states=states).sample
        store = AttentionStore()
        with capture_cross_attention(pipe.unet, store) as swapped:
            captured = pipe.unet(latents, t, encoder_hidden_states=states).sample
    assert swapped == sum(attn.is_cross_attention for _, attn in attention_modules(pipe.unet)) > 0
    assert torch.equal(plain, captured)
    assert all(type(attn.processor).__name__ == "AttnProcessor2_0" for _, attn in attention_modules(pipe.unet))


def test_maps_are_probabilities_at_the_resolution_with_most_layers(pipe):
    latents, t, states = unet_inputs(pipe)
    store = AttentionStore()
    with torch.no_grad(), capture_cross_attention(pipe.unet, store):
        pipe.unet(latents, t, encoder_hidden_states=states)
    layers = store.resolutions()
    side = pipe.unet.config.sample_size
    assert set(layers) <= {side * side, side * side // 4, side * side // 16} and len(layers) >= 2
    chosen = max(layers, key=lambda q: (layers[q], q))
    maps = store.maps()
    assert maps.shape[0] == 2 and maps.shape[2] == chosen and maps.shape[3] == states.shape[1]
    assert torch.allclose(maps.sum(-1), torch.ones(()), atol=1e-5)
    with pytest.raises(KeyError, match="recorded"):
        store.maps(queries=7)


def test_a_store_keeps_only_the_layers_it_wants(sd_pipe):
    latents, t, states = unet_inputs(sd_pipe)
    store = AttentionStore(queries=64)  # the tiny SD UNet's 8x8 mid block
    with torch.no_grad(), capture_cross_attention(sd_pipe.unet, store):
        sd_pipe.unet(latents, t, encoder_hidden_states=states)
    assert store.resolutions() == {64: 1}


def test_maps_keep_the_autograd_graph_to_latents_and_prompt_states(pipe):
    latents, t, states = unet_inputs(pipe)
    latents, states = latents.requires_grad_(True), states.detach().requires_grad_(True)
    store = AttentionStore()
    with capture_cross_attention(pipe.unet, store):
        pipe.unet(latents, t, encoder_hidden_states=states)
    p = store.maps()[:, :, :, 1].mean(1)  # (B, HW) one token's map
    p = p / p.sum(-1, keepdim=True)
    entropy = -(p * p.log()).sum()
    grad_latents, grad_states = torch.autograd.grad(entropy, [latents, states])
    assert grad_latents.abs().sum() > 0 and grad_states.abs().sum() > 0


def test_attention_capture_hook_averages_conditional_maps_without_changing_images(pipe):
    prompts = ["a large red circle", "a small blue star"]
    plain = text_to_image(pipe, prompts, seed=0, steps=2)
    capture = AttentionCapture()
    hooked = text_to_image(pipe, prompts, seed=0, steps=2, controls=[capture])
    assert torch.equal(plain, hooked)
    assert capture.maps.shape == (2, capture.queries, pipe.tokenizer.model_max_length)
    assert torch.allclose(capture.maps.sum(-1), torch.ones(()), atol=1e-5)
