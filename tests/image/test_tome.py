"""ToMe on a saved-and-loaded tiny Stable Diffusion pipeline and on a tiny gfx pipeline: prompt edits, the entropy
and semantic-binding losses decreasing over their iterations, and a no-op configuration equal to plain sampling."""

import pytest
import torch

from gfx.image.denoise import encode_prompts, text_to_image
from gfx.image.phrases import Phrase
from gfx.image.tome import ToMe, composite_entropy

PROMPT = "a large red circle to the left of a small blue star"


def test_tome_edits_prompts_and_its_losses_decrease(pipe):
    tome = ToMe(entropy_steps=2, refinements=3, entropy_target=0.0, binding_steps=1, binding_iterations=3)
    plain = text_to_image(pipe, [PROMPT], seed=0, steps=3)
    steered = text_to_image(pipe, [PROMPT], seed=0, steps=3, controls=[tome])
    assert steered.shape == plain.shape and not torch.allclose(steered, plain)
    first, second = tome.history
    assert first["step"] == 0 and second["step"] == 1 and len(first["entropy"]) == 3
    for record in tome.history:
        assert record["entropy"][-1] < record["entropy"][0] <= 1.0  # fractions of log(HW)
    assert first["binding"][-1] < first["binding"][0] and second["binding"] == []


def test_prompt_edits_merge_tokens_and_substitute_end_tokens(sd_pipe):
    tome = ToMe(phrases=["large red circle", "small blue star"])
    tome.setup(sd_pipe, [PROMPT])
    cond = encode_prompts(sd_pipe, [PROMPT])
    edited = tome.edit_prompts(cond)[0]
    assert [g.composite for g in tome.token_groups[0]] == [4, 12] and tome.ends == [13]
    assert torch.equal(edited[[2, 3, 10, 11]], torch.zeros(4, cond.shape[-1]))  # the attribute tokens
    assert torch.allclose(edited[4], 1.1 * cond[0, 4] + 1.2 * (cond[0, 2] + cond[0, 3]))
    nouns_only = encode_prompts(sd_pipe, ["a circle and a star"])[0]
    assert torch.equal(edited[13:], nouns_only[13:]) and torch.equal(edited[:2], cond[0, :2])


def test_tome_with_every_part_off_is_plain_sampling(sd_pipe):
    off = ToMe(groups=[Phrase(3, (1, 2))], merge=False, end_token_substitution=False, binding_steps=0,
               entropy_steps=0)
    plain = text_to_image(sd_pipe, [PROMPT, "a small green heart"], seed=1, steps=2)
    assert torch.equal(text_to_image(sd_pipe, [PROMPT, "a small green heart"], seed=1, steps=2, controls=[off]),
                       plain)


def test_composite_entropy_is_low_for_a_concentrated_map():
    maps = torch.full((16, 6), 1 / 6)
    groups = [type("G", (), {"composite": 2})()]
    flat = composite_entropy(maps, groups, end=5)
    peaked = maps.clone()
    peaked[3, 2] = 5.0
    assert composite_entropy(peaked, groups, end=5) < flat
    assert flat <= torch.log(torch.tensor(16.0))


def test_tome_needs_the_prompts_and_one_kind_of_grouping(sd_pipe):
    with pytest.raises(ValueError, match="either phrases or groups"):
        ToMe(phrases=["red circle"], groups=[Phrase(3, (2,))])
    with pytest.raises(ValueError, match="prompt texts"):
        ToMe().setup(sd_pipe, None)
