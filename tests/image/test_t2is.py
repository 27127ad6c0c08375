"""T2IS by shared self-attention: a set of one is plain generation, sharing changes a set, and it lasts only
`steps` steps."""

import numpy as np
import pytest
import torch

from gfx.image.denoise import text_to_image
from gfx.image.t2is import SharedAttention, generate_set, set_prompts


def test_set_prompts_fill_or_append():
    assert set_prompts("a large {} heart", ["red", "blue"]) == ["a large red heart", "a large blue heart"]
    assert set_prompts("a dotted circle", ["", "on a dark background"]) == [
        "a dotted circle", "a dotted circle on a dark background"]
    with pytest.raises(ValueError, match="at least one"):
        set_prompts("a heart", [])


def test_a_set_of_one_is_plain_generation(pipe):
    plain = text_to_image(pipe, ["a large red heart"], seed=3, steps=3)
    shared = text_to_image(pipe, ["a large red heart"], seed=3, steps=3, controls=[SharedAttention(steps=3)])
    assert torch.equal(shared, plain)  # the set's keys are the image's own: the same computation


def test_shared_attention_changes_a_set_and_only_while_active(pipe):
    prompts = set_prompts("a large {} heart", ["red", "blue", "green"])
    independent = text_to_image(pipe, prompts, seed=0, steps=3)
    shared = text_to_image(pipe, prompts, seed=0, steps=3, controls=[SharedAttention(steps=3)])
    assert (shared - independent).abs().amax(dim=(1, 2, 3)).min() > 1e-4  # every image of the set changes
    assert torch.equal(text_to_image(pipe, prompts, seed=0, steps=3, controls=[SharedAttention(steps=0)]),
                       independent)
    assert all(type(a.processor).__name__ == "AttnProcessor2_0" for a in pipe.unet.modules()
               if hasattr(a, "processor"))


def test_the_anchor_is_drawn_alone_and_the_others_change(pipe):
    prompts = set_prompts("a large {} heart", ["red", "blue", "green"])
    independent = text_to_image(pipe, prompts, seed=0, steps=3)
    anchored = text_to_image(pipe, prompts, seed=0, steps=3, controls=[SharedAttention(steps=3, anchor=True)])
    assert torch.allclose(anchored[0], independent[0], atol=1e-5)  # the anchor attends only to itself
    assert (anchored[1:] - independent[1:]).abs().amax(dim=(1, 2, 3)).min() > 1e-4
    assert SharedAttention(anchor=True).block_bias(3).isinf().tolist() == [
        [False, True, True], [False, False, True], [False, True, False]]


def test_cross_weight_scales_the_other_images_keys():
    bias = SharedAttention(cross_weight=0.5).block_bias(2)
    assert torch.allclose(bias, torch.tensor([[0.0, -0.6931], [-0.6931, 0.0]]), atol=1e-4)
    with pytest.raises(ValueError, match="cross_weight"):
        SharedAttention(cross_weight=0)


def test_generate_set_returns_one_result_per_variation(sd_pipe):
    results = generate_set(sd_pipe, "a {} star", ["red", "blue"], seed=5, steps=2, shared_steps=1)
    assert [r.prompt for r in results] == ["a red star", "a blue star"] and [r.seed for r in results] == [5, 6]
    assert results[0].image.shape == (32, 32, 3) and results[0].info["set"] == 2
    alone = generate_set(sd_pipe, "a {} star", ["red", "blue"], seed=5, steps=2, shared_steps=0)
    assert not np.array_equal(results[1].image, alone[1].image)
