"""Token grounding (TokenCompose's token loss): regions from the world's captions, and a loss that is zero only when
each object word attends inside its object."""

import numpy as np
import pytest
import torch

from gfx.data.shapes2d.raster import render, silhouette
from gfx.data.shapes2d.world import Scene, Shape2D, caption, phrase_objects
from gfx.image.attention import AttentionStore
from gfx.image.grounding import grounding_losses, token_regions
from gfx.image.prompt_ops import word_positions

RED = Shape2D("circle", "red", "large", (1, 0))
BLUE = Shape2D("star", "blue", "small", (1, 2))


def test_phrases_name_their_objects_one_each_or_all_at_once():
    two = Scene((RED, BLUE))
    assert phrase_objects(two, 2) == [(RED,), (BLUE,)]
    copies = Scene((RED, Shape2D("circle", "red", "large", (0, 0))))
    assert caption(copies) == "two large red circles" and phrase_objects(copies, 1) == [copies.objects]
    with pytest.raises(ValueError, match="expected 2 or 1"):
        phrase_objects(two, 3)


def test_silhouette_is_where_render_paints_a_filled_object():
    difference = np.abs(render(Scene((RED,))).astype(int) - render(Scene(())).astype(int)).max(-1)
    mask = silhouette(RED, 64)
    assert mask.sum() > 100 and (difference[mask] > 24).mean() > 0.95  # inside: painted but for the edge
    assert difference[~mask].max() < 128  # outside: at most an anti-aliased edge


def test_truncated_word_positions_drop_the_tokens_the_encoder_drops(clip_bpe_tokenizer):
    prompt = "a large red circle to the left of a small blue star and a large green heart"
    positions = word_positions(clip_bpe_tokenizer, prompt, truncate=True)  # the tokenizer keeps 16
    assert positions[3] == (4,) and positions[-1] == () and max(p for w in positions for p in w) == 14


def test_token_regions_ground_each_phrase_on_its_own_mask(clip_bpe_tokenizer):
    prompt = caption(Scene((RED, BLUE)))  # "a large red circle to the left of a small blue star"
    masks = [silhouette(RED, 64), silhouette(BLUE, 64)]
    regions, grounded = token_regions(clip_bpe_tokenizer, prompt, masks, 16)
    assert regions.shape == (16, 16, 16) and grounded.shape == (16,)
    assert grounded.nonzero()[0].tolist() == [2, 3, 4, 10, 11, 12]  # large red circle, small blue star
    cover = masks[0].reshape(16, 4, 16, 4).mean(axis=(1, 3))
    assert np.allclose(regions[2], cover) and np.allclose(regions[4], cover)
    assert regions[11].sum() < regions[3].sum() and not regions[~grounded].any()
    with pytest.raises(ValueError, match="2 object phrases but 1 masks"):
        token_regions(clip_bpe_tokenizer, prompt, masks[:1], 16)


def test_token_loss_is_zero_inside_and_pixel_loss_asks_the_region_to_read_its_token():
    regions = torch.zeros(1, 3, 4, 4)
    regions[0, 1, :2, :2] = 1.0  # token 1 belongs to the top-left quarter
    grounded = torch.tensor([[False, True, False]])

    def losses(attention: torch.Tensor, min_queries: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
        store = AttentionStore()  # attention: (HW, T), one head
        store.record("layer", attention[None, None])
        return grounding_losses(store, regions, grounded, min_queries=min_queries)

    quarter = regions[0, 1].flatten()
    inside = torch.stack([1 - quarter / 4, quarter / 4, torch.zeros(16)], 1)  # all of token 1's attention inside
    token, pixel = losses(inside)
    assert token == 0 and torch.isclose(pixel, torch.tensor(4 * -np.log(0.25) / 16, dtype=torch.float32))
    token, pixel = losses(torch.stack([1 - quarter, quarter, torch.zeros(16)], 1))  # the quarter reads only token 1
    assert token == 0 and pixel < 1e-4
    even = torch.full((16, 3), 1 / 3)
    token, pixel = losses(even)  # spread evenly: 1/4 inside
    assert torch.isclose(token, torch.tensor(0.75 ** 2)) and pixel > losses(inside)[1]
    coarse = torch.full((4, 3), 1 / 3)  # 2x2: a cell counts when any of it is covered
    assert losses(coarse, min_queries=4)[0] == torch.tensor(0.75 ** 2)
    with pytest.raises(ValueError, match="no cross-attention layer"):
        losses(coarse)


def test_a_token_weight_scales_its_share_of_the_average():
    regions = torch.zeros(1, 3, 4, 4)
    regions[0, 1, :2, :2] = 1.0
    regions[0, 2, 2:, 2:] = 1.0
    store = AttentionStore()
    store.record("layer", torch.full((1, 1, 16, 3), 1 / 3))  # token 1 and 2: a quarter of each inside
    both = grounding_losses(store, regions, torch.tensor([[False, True, True]]), min_queries=16)
    same = grounding_losses(store, regions, torch.tensor([[0.0, 1.0, 1.0]]), min_queries=16)
    half = grounding_losses(store, regions, torch.tensor([[0.0, 1.0, 0.5]]), min_queries=16)
    assert torch.equal(both[0], same[0]) and torch.equal(both[1], same[1])
    assert torch.isclose(half[0], 0.75 * both[0]) and torch.isclose(half[1], 0.75 * both[1])  # (1 + 0.5) / 2
