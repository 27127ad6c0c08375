"""CoRe and textual inversion on tiny random pipelines loaded with `from_pretrained` (a real
`StableDiffusionPipeline` and gfx's own): the regularizers' exactness, gradients to the one new row, norm
rescaling, the diffusers textual-inversion file, the control, and bad inputs."""

import numpy as np
import pytest
import torch

from gfx.image.codec import read_pixels
from gfx.image.core import (
    CONTEXT_TEMPLATES,
    Concept,
    ConceptConfig,
    ConceptTraining,
    LearnedConcept,
    concept_batch,
    context_ids,
)
from gfx.image.denoise import encode_prompts, text_to_image
from tests.image.conftest import fresh


def cross_pixels(size: int, n: int = 2) -> torch.Tensor:
    from gfx.data.shapes2d.raster import render
    from gfx.data.shapes2d.world import Scene, Shape2D

    colors = ["red", "blue", "green", "yellow"]
    return read_pixels([render(Scene((Shape2D("cross", colors[i], "large", (1, 1)),))) for i in range(n)], size)


def batch_for(pipe, model, size, contexts=CONTEXT_TEMPLATES[:2]):
    return concept_batch(pipe.tokenizer, cross_pixels(size), ["a {}", "a large {}"], model.settings, contexts)


def size_of(kind):
    return 32 if kind == "sd" else 64


def test_regularizers_are_zero_when_the_concept_is_its_class_word_and_grow_when_it_moves(saved, kind):
    pipe = fresh(saved, kind)
    model = ConceptTraining(pipe, ConceptConfig("<cross>", init_word="star"))
    batch = batch_for(pipe, model, size_of(kind))
    latents = model.codec.encode(batch["pixels"])
    torch.manual_seed(0)
    terms = model.regularizers(batch, latents)
    assert terms["emb"].abs().item() < 1e-6 and terms["attn"].item() == 0.0
    with torch.no_grad():
        model.vector.add_(torch.randn_like(model.vector))
    torch.manual_seed(0)
    moved = model.regularizers(batch, latents)
    assert moved["emb"].item() > 1e-4 and moved["attn"].item() > 0


def test_gradients_reach_only_the_concept_vector_and_textual_inversion_skips_the_regularizers(saved, kind):
    pipe = fresh(saved, kind)
    model = ConceptTraining(pipe, ConceptConfig(method="core"))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["vector"]
    batch = batch_for(pipe, model, size_of(kind))
    torch.manual_seed(1)
    core = model.loss(batch)
    core.backward()
    assert model.vector.grad is not None and model.vector.grad.abs().sum() > 0
    plain = ConceptTraining(fresh(saved, kind), ConceptConfig(method="textual-inversion"))
    torch.manual_seed(1)
    with torch.no_grad():
        plain_loss = plain.loss(batch)
    torch.manual_seed(1)
    with torch.no_grad():
        model.vector.copy_(plain.vector)
        base = model.loss(batch)
    assert torch.allclose(plain_loss, base, atol=1e-6)  # same start: the regularizers are zero there, same draws


def test_rescaling_keeps_the_norm_inside_the_window_only():
    class Stub(ConceptTraining):
        def __init__(self, method):
            torch.nn.Module.__init__(self)
            self.settings = ConceptConfig(method=method, rescale=(0.4, 0.6))
            self.vector = torch.nn.Parameter(torch.ones(4))
            self._norm_before = None

    model = Stub("core")
    for step, moved in ((1, True), (5, False), (6, False), (7, True)):  # of 10 steps: updates 4 and 5 are held
        model._norm_before = model.vector.detach().norm()
        with torch.no_grad():
            model.vector.mul_(1.5)
        model.after_step(step, 10)
        assert (not torch.isclose(model.vector.norm(), model._norm_before)) == moved, step
    plain = Stub("textual-inversion")
    plain._norm_before = torch.tensor(1.0)
    plain.after_step(5, 10)
    assert torch.equal(plain.vector, torch.ones(4))


def test_the_learned_file_is_a_diffusers_textual_inversion(saved, tmp_path):
    pipe = fresh(saved, "sd")
    model = ConceptTraining(pipe, ConceptConfig("<cross>", method="textual-inversion"))
    with torch.no_grad():
        model.vector.add_(torch.randn_like(model.vector))
    learned = model.concept()
    learned.save(tmp_path)
    other = fresh(saved, "sd")
    other.load_textual_inversion(str(tmp_path), token="<cross>")
    prompt = ["a <cross> above a blue circle"]
    ours = fresh(saved, "sd")
    Concept(tmp_path).prepare(ours)
    assert torch.equal(encode_prompts(other, prompt), encode_prompts(ours, prompt))
    loaded = LearnedConcept.load(tmp_path)
    assert loaded.config == learned.config and torch.equal(loaded.vector, learned.vector)
    steered = text_to_image(ours, prompt, seed=0, steps=2)
    assert torch.equal(steered, text_to_image(fresh(saved, "sd"), prompt, seed=0, steps=2,
                                              controls=[Concept(tmp_path)]))
    assert not torch.equal(steered, text_to_image(fresh(saved, "sd"), ["a <cross>"], seed=0, steps=2,
                                                  controls=[Concept(tmp_path)]))


def test_stage_two_tunes_the_unet_ships_it_with_the_word_and_swaps_it_in_only_while_sampling(saved, tmp_path):
    pipe = fresh(saved, "shapes")
    model = ConceptTraining(pipe, ConceptConfig("<cross>"))
    model.identity_stage()
    assert not model.vector.requires_grad
    assert {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad} == {"unet"}
    batch = batch_for(pipe, model, 64)
    model.loss(batch).backward()
    assert model.vector.grad is None and any(p.grad is not None for p in model.unet.parameters())
    with torch.no_grad():
        for p in model.unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    learned = model.concept()
    learned.save(tmp_path)
    assert (tmp_path / "unet.safetensors").is_file()
    loaded = LearnedConcept.load(tmp_path)
    assert loaded.unet.keys() == learned.unet.keys()
    other = fresh(saved, "shapes")
    before = {k: v.clone() for k, v in other.unet.state_dict().items()}
    prompt = ["a <cross> above a blue circle"]
    tuned = text_to_image(other, prompt, seed=0, steps=2, controls=[Concept(tmp_path)])
    assert all(torch.equal(v, before[k]) for k, v in other.unet.state_dict().items())  # restored after sampling
    whole = text_to_image(other, prompt, seed=0, steps=2, controls=[Concept(tmp_path, window=(0.0, 1.0))])
    late = text_to_image(other, prompt, seed=0, steps=2, controls=[Concept(tmp_path, window=(0.5, 1.0))])
    assert torch.equal(whole, tuned) and all(torch.equal(v, before[k]) for k, v in other.unet.state_dict().items())
    (tmp_path / "unet.safetensors").unlink()
    word_only = text_to_image(other, prompt, seed=0, steps=2, controls=[Concept(tmp_path)])
    assert not torch.equal(tuned, word_only) and not torch.equal(late, tuned) and not torch.equal(late, word_only)
    with pytest.raises(ValueError, match="0 <= start < end <= 1"):
        Concept(tmp_path, window=(0.5, 0.2))
    partial = dict(list(learned.unet.items())[1:])  # a UNet of another architecture
    LearnedConcept(learned.config, learned.vector, partial).save(tmp_path)
    with pytest.raises(ValueError, match="another model's UNet"):
        text_to_image(other, prompt, seed=0, steps=2, controls=[Concept(tmp_path)])


def test_stage_two_prior_preservation_adds_the_world_scenes_loss(saved):
    from gfx.recipes.concept import ConceptBatches
    from gfx.recipes.world_batches import WorldBatches

    pipe = fresh(saved, "shapes")
    model = ConceptTraining(pipe, ConceptConfig("<cross>"))
    model.identity_stage()
    prior = WorldBatches(pipe.tokenizer, 3, image_size=64)
    batches = ConceptBatches(pipe.tokenizer, cross_pixels(64), ("a {}", "a large {}"), model.settings, 2, prior=prior)
    batch = next(batches(0))
    assert batch["prior_pixels"].shape == (3, 3, 64, 64) and batch["prior_ids"].shape[0] == 3
    plain = {k: v for k, v in batch.items() if not k.startswith("prior_")}
    torch.manual_seed(0)
    alone = model.loss(plain)
    torch.manual_seed(0)
    assert model.loss(batch) > alone  # the same draws for the concept's images, plus the prior's loss


def test_bad_inputs_give_short_errors(saved, tmp_path):
    pipe = fresh(saved, "shapes")
    ConceptTraining(pipe, ConceptConfig("<cross>"))
    with pytest.raises(ValueError, match="already has"):  # a second concept of the same name
        ConceptTraining(pipe, ConceptConfig("<cross>"))
    with pytest.raises(ValueError, match="angle brackets"):
        ConceptConfig("cross")
    with pytest.raises(ValueError, match="method must be"):
        ConceptConfig(method="dreambooth")
    with pytest.raises(ValueError, match="one-token class word"):
        ConceptTraining(fresh(saved, "shapes"), ConceptConfig("<x>", init_word="sunglasses pyramid"))
    with pytest.raises(ValueError, match="tokenizes differently"):
        context_ids(pipe.tokenizer, ["three {}s"], "<cross>", "star")
    with pytest.raises(ValueError, match="no images"):
        read_pixels([], 64)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        read_pixels([tmp_path / "broken.png"], 64)
    with pytest.raises(FileNotFoundError, match="no learned concept"):
        Concept(tmp_path)
    assert read_pixels([np.zeros((10, 12, 4), np.uint8)], 16).shape == (1, 3, 16, 16)
