"""xAR on tiny random weights: entity layouts, the block-causal training mask, NCL noise levels, cached = uncached
velocities, teacher forcing matches inference, save -> load, errors."""

import pytest
import torch

from gfx.image.ar_pipeline import TextCondition
from gfx.image.xar import ENTITIES, XAR, XARConfig, XARPipeline, XARSettings, guidance_scales


def tiny(**overrides) -> XAR:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = XAR(XARConfig.from_name("tiny", **overrides)).eval()
    torch.nn.init.normal_(model.out.weight, 0, 0.1)  # the output layer starts at zero: make velocities differ
    return model


@pytest.mark.parametrize("entity, sizes", [("token", [1] * 16), ("cell", [4] * 4), ("scale", [1, 4, 16]),
                                           ("image", [16])])
def test_entity_layouts_cut_the_grid_and_put_it_back(entity, sizes):
    layout = tiny(entity=entity).layout
    assert layout.sizes == sizes
    grid = torch.randn(2, 48, 4, 4)
    sequence = layout.to_sequence(grid)
    assert sequence.shape == (2, sum(sizes), 48)
    assert torch.equal(layout.to_grid(sequence), grid)
    if entity == "cell":  # the first cell is the top-left 2 x 2 tokens
        assert torch.equal(sequence[:, :4], grid[:, :, :2, :2].flatten(2).transpose(1, 2))


def test_ncl_draws_one_noise_level_per_entity_and_teacher_forcing_keeps_context_clean():
    model = tiny()
    clean = torch.randn(3, 16, 48)
    inputs = model.training_inputs(clean, torch.Generator().manual_seed(0))
    t = inputs.t.view(3, 4, 4)  # (B, entity, token)
    assert torch.equal(t, t[:, :, :1].expand_as(t))  # one t per entity ...
    assert len(t[:, :, 0].unique()) == 12  # ... drawn independently per entity and row
    assert ((inputs.t > 0) & (inputs.t < 1)).all()
    forced = tiny(ncl=False).training_inputs(clean, torch.Generator().manual_seed(0))
    assert forced.x.shape == (3, 12 + 16, 48) and forced.t[:, :12].eq(0).all()
    assert torch.equal(forced.x[:, :12], clean[:, :12])


def test_training_mask_is_block_causal_over_the_prefix_and_entities():
    model = tiny()
    inputs = model.training_inputs(torch.randn(1, 16, 48))
    prefix_mask = torch.tensor([[True, True, False]])
    mask = model.input_mask(inputs, prefix_mask)[0]
    assert mask.shape == (19, 19)
    assert not mask[3:, 2].any()  # padded prefix hidden from the entities
    assert mask[3:7, 3:7].all() and not mask[3:7, 7:].any()  # entity 0 sees itself, not entity 1
    assert mask[7:11, :2].all() and mask[7:11, 3:11].all() and not mask[7:11, 11:].any()


@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize("guidance", [1.0, 2.5])
def test_cached_sampling_gives_the_velocities_of_uncached_sampling(entity, guidance):
    pipe = XARPipeline(tiny(entity=entity))
    condition = TextCondition.of(["a large red circle", ""])
    noise = pipe.noise(2, 0)
    cached, uncached = [], []
    a = pipe.sample_sequence(condition, noise, 2, guidance, True, cached)
    b = pipe.sample_sequence(condition, noise, 2, guidance, False, uncached)
    assert len(cached) == 2 * len(pipe.model.layout.sizes)
    for u, v in zip(cached, uncached, strict=True):
        torch.testing.assert_close(u, v, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_teacher_forcing_training_sees_what_inference_sees():
    """Under clean teacher forcing, entity 1's velocity in the training sequence equals the velocity sampling
    computes for the same noisy tokens after the same clean entity 0."""
    model = tiny(ncl=False)
    clean = torch.randn(1, 16, 48)
    inputs = model.training_inputs(clean)
    condition = TextCondition.of(["a red circle"])
    P = condition.prefix.shape[1]
    positions = torch.cat([torch.arange(P), P + inputs.slots])[None]
    with torch.no_grad():
        v = model.velocity(inputs.x, inputs.t, inputs.slots, prefix=condition.prefix,
                           prefix_mask=condition.prefix_mask, attn_mask=model.input_mask(inputs, condition.prefix_mask),
                           position_ids=positions)[:, 12 + 4 : 12 + 8]  # noisy entity 1
        x = torch.cat([clean[:, :4], inputs.x[:, 12 + 4 : 12 + 8]], 1)
        t = torch.cat([torch.zeros(1, 4), inputs.t[:, 12 + 4 : 12 + 8]], 1)
        from gfx.image.xar import attention_mask

        blocks = torch.cat([torch.full((P,), -1), torch.tensor([0] * 4 + [1] * 4)])
        valid = torch.cat([condition.prefix_mask, torch.ones(1, 8, dtype=torch.bool)], 1)
        w = model.velocity(x, t, torch.arange(8), prefix=condition.prefix, prefix_mask=condition.prefix_mask,
                           attn_mask=attention_mask(blocks, blocks, valid))[:, 4:]
    torch.testing.assert_close(v, w, atol=1e-5, rtol=1e-4)


def test_guidance_ramp_rises_from_unguided_to_the_full_scale_over_the_entities():
    assert guidance_scales(3.0, 4, ramp=False) == [3.0] * 4
    assert guidance_scales(4.0, 4, ramp=True) == [1.0, 2.0, 3.0, 4.0]
    assert guidance_scales(4.0, 1, ramp=True) == [4.0]
    condition = TextCondition.of(["a large red circle"])
    model = tiny(entity="cell")
    noise = XARPipeline(model).noise(1, 0)
    ramped = XARPipeline(model, XARSettings(guidance_ramp=True)).sample_sequence(condition, noise, 2, 3.0)
    constant = XARPipeline(model).sample_sequence(condition, noise, 2, 3.0)
    first = model.layout.sizes[0]  # under the ramp the first entity is drawn unguided
    unguided = XARPipeline(model).sample_sequence(condition, noise, 2, 1.0)
    torch.testing.assert_close(ramped[:, :first], unguided[:, :first])
    assert not torch.allclose(ramped[:, first:], constant[:, first:])


def test_loss_trains_and_the_pipeline_round_trips(tmp_path):
    from gfx.checkpoint import load_pretrained

    model = tiny().train()
    loss = model.loss({"pixels": torch.rand(2, 3, 16, 16) * 2 - 1, "prompts": ["a red circle", ""]})
    loss.backward()
    assert torch.isfinite(loss) and model.inp.weight.grad.abs().sum() > 0
    pipe = XARPipeline(model.eval())
    pipe.save_pretrained(tmp_path / "xar")
    loaded = load_pretrained(tmp_path / "xar")
    a, b = pipe("a red circle", n=1, seed=2, steps=2), loaded("a red circle", n=1, seed=2, steps=2)
    assert (a[0].image == b[0].image).all() and a[0].image.shape == (16, 16, 3)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="entity must be one of token, cell, scale, image"):
        XARConfig(entity="patch")
    with pytest.raises(ValueError, match="must divide by the cell side 3"):
        XARConfig.from_name("tiny", cell=3)
    with pytest.raises(ValueError, match="scales must increase and end at the token grid 4"):
        XARConfig.from_name("tiny", entity="scale", scales=(1, 2))
    with pytest.raises(ValueError, match="steps must be at least 1"):
        XARPipeline(tiny())("a circle", steps=0)
