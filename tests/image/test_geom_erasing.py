"""Geom-Erasing on tiny random pipelines saved and loaded with `from_pretrained` (a real `StableDiffusionPipeline`
and gfx's own): location bins, region weights, token-only fine-tuning, negative prompts in the loop, the control,
the saved embeddings, the recipe and `gfx eval image-controls` plumbing (numbers mean nothing on random weights)."""

import copy
import dataclasses
import shutil

import pytest
import torch
from typer.testing import CliRunner

import gfx.recipes.run
from gfx.cli import app
from gfx.data.shapes2d.raster import mark_box
from gfx.data.shapes2d.world import CORNERS, WorldConfig
from gfx.image.codec import latent_codec
from gfx.image.denoise import denoise, encode_prompts, image_size, initial_latents, text_to_image
from gfx.image.geom_erasing import (
    ErasingConfig,
    ErasingEmbeddings,
    ErasingTraining,
    GeomErasing,
    augment_caption,
    box_tokens,
    location_tokens,
    region_mask,
    region_weights,
)
from gfx.image.pipeline import load_pipeline
from gfx.recipes.geom_erasing import GeomErasingRecipe, MarkBatches, fine_tune
from tests.image.conftest import fresh

PROMPT = "a large red circle"
SD_GRID = (2, 2)
"""The tiny SD tokenizer takes 16 tokens: "<mark>" and 4 bins fit in a negative prompt, 16 bins do not."""


MODEL_REMOVAL = dict(train_unet=False, mark_prob=1.0, object_counts=None, ground_objects=False, object_weight=1.0,
                     grounding_weight=0.0, grounding_pixel_weight=0.0, scale=None, seen_region=False)
"""The paper's model removal: the vectors only, under the plain region-reweighted loss, as a negative prompt."""


def tiny_config(kind, **overrides) -> GeomErasingRecipe:
    grid = SD_GRID if kind == "sd" else (4, 4)
    return GeomErasingRecipe.from_name("tiny", steps=3, lr=0.05, grid=grid, **{**MODEL_REMOVAL, **overrides})


def test_box_tokens_name_every_bin_a_box_covers():
    assert location_tokens((2, 3)) == [f"<l{i}>" for i in range(6)]
    assert box_tokens((0.0, 0.0, 0.25, 0.25), (4, 4)) == ["<l0>"]  # a bin's own edge does not reach the next
    assert box_tokens((0.2, 0.2, 0.3, 0.3), (4, 4)) == ["<l0>", "<l1>", "<l4>", "<l5>"]
    assert box_tokens((0.6, -0.1, 1.2, 0.3), (4, 4)) == ["<l2>", "<l3>", "<l6>", "<l7>"]  # clipped to the image
    assert len(box_tokens((0, 0, 1, 1), (4, 4))) == 16
    assert box_tokens((0.6, 0.9, 0.9, 1.0), (2, 3)) == ["<l5>"]  # row 2, column 1 of a 2-wide grid
    corners = {c: box_tokens(mark_box(c), (4, 4)) for c in ("top left", "top right", "bottom left", "bottom right")}
    assert corners == {"top left": ["<l0>"], "top right": ["<l3>"], "bottom left": ["<l12>"],
                       "bottom right": ["<l15>"]}
    with pytest.raises(ValueError, match="empty"):
        box_tokens((0.5, 0.5, 0.5, 0.7), (4, 4))


def test_region_weights_sum_to_T_and_have_the_stated_ratio():
    boxes = torch.tensor([[0.0, 0.0, 0.25, 0.5], [0.5, 0.5, 0.6, 0.6], [0, 0, 0, 0], [0, 0, 1, 1]])
    mask = region_mask(boxes, (8, 8))
    assert mask.sum((1, 2)).tolist() == [8, 1, 0, 64]
    assert mask[0, :4, :2].all() and mask[1, 4, 4]
    alpha = 0.2
    weights = region_weights(mask, alpha)
    torch.testing.assert_close(weights.sum((1, 2)), torch.full((4,), 64.0))
    inside, outside = weights[0][mask[0]], weights[0][~mask[0]]
    torch.testing.assert_close(inside, torch.full_like(inside, 64 / (8 + alpha * 56)))
    torch.testing.assert_close(outside / inside[0], torch.full_like(outside, alpha))
    assert torch.equal(weights[2], torch.ones(8, 8)) and torch.equal(weights[3], torch.ones(8, 8))
    assert torch.equal(region_weights(mask, 1.0), torch.ones(4, 8, 8))
    with pytest.raises(ValueError, match="positive"):
        region_weights(mask, 0.0)


def test_captions_append_the_concept_and_its_bins_and_make_room(clip_bpe_tokenizer):
    assert augment_caption("a red circle", "<mark>", ["<l0>"]) == "a red circle <mark> <l0>"
    tokenizer = copy.deepcopy(clip_bpe_tokenizer)  # 16 tokens; the added ones count one each
    tokenizer.add_tokens(["<mark>", "<l0>", "<l1>"])
    long = "a large striped red circle to the left of a large striped blue star on a dark background"
    text = augment_caption(long, "<mark>", ["<l0>", "<l1>"], tokenizer)
    assert text.endswith("<mark> <l0> <l1>") and long.startswith(text[: -len(" <mark> <l0> <l1>")])
    assert len(tokenizer(text).input_ids) <= 16 < len(tokenizer(long + " <mark> <l0> <l1>").input_ids)
    with pytest.raises(ValueError, match="coarser grid"):
        augment_caption("", "<mark>", ["<l0>"] * 15, tokenizer)


def test_mark_batches_name_the_mark_where_it_is(clip_bpe_tokenizer):
    import numpy as np

    erasing = ErasingConfig(grid=(4, 4))
    tokenizer = copy.deepcopy(clip_bpe_tokenizer)
    tokenizer.add_tokens(["<mark>"])
    batches = MarkBatches(tokenizer, 8, WorldConfig(mark_prob=0.5), 64, empty_prompt_prob=0.0,
                          erasing=erasing)
    batch = batches.batch(np.random.default_rng(3))
    marked = batch["boxes"].any(1)
    assert 0 < marked.sum() < 8 and batch["pixels"].shape == (8, 3, 64, 64)
    mark_id = tokenizer.convert_tokens_to_ids("<mark>")
    assert torch.equal((batch["input_ids"] == mark_id).any(1), marked)


def test_token_only_fine_tuning_changes_only_the_new_rows(saved, kind):
    pipe, base = fresh(saved, kind), fresh(saved, kind)
    vocab = len(base.tokenizer)
    start = ErasingEmbeddings.initial(pipe, ErasingConfig(grid=tiny_config(kind).grid))
    learned = fine_tune(pipe, tiny_config(kind))
    for name in ("unet", "vae"):
        if getattr(base, name, None) is not None:
            for (key, a), b in zip(getattr(base, name).state_dict().items(),
                                   getattr(pipe, name).state_dict().values(), strict=True):
                assert torch.equal(a, b), f"{name}.{key} changed"
    table = pipe.text_encoder.get_input_embeddings().weight
    table_key = next(k for k, v in pipe.text_encoder.state_dict(keep_vars=True).items() if v is table)
    trained = pipe.text_encoder.state_dict()
    for key, value in base.text_encoder.state_dict().items():
        assert torch.equal(value, trained[key][:vocab] if key == table_key else trained[key]), key
    ids = pipe.tokenizer.convert_tokens_to_ids(list(learned.vectors))
    assert ids == list(range(vocab, vocab + len(ids))) and trained[table_key].shape[0] == vocab + len(ids)
    for i, vector in zip(ids, learned.vectors.values(), strict=True):
        assert torch.equal(trained[table_key][i], vector)
    moved = [t for t in learned.vectors if not torch.equal(learned.vectors[t], start.vectors[t])]
    assert "<mark>" in moved  # every training caption names it


def test_data_removal_also_trains_the_unet(saved):
    pipe, base = fresh(saved, "shapes"), fresh(saved, "shapes")
    fine_tune(pipe, tiny_config("shapes", train_unet=True, mark_prob=0.5))
    changed = [k for k, v in base.unet.state_dict().items() if not torch.equal(v, pipe.unet.state_dict()[k])]
    assert changed
    vocab = len(base.tokenizer)
    table = pipe.text_encoder.get_input_embeddings().weight
    assert torch.equal(table[:vocab], base.text_encoder.get_input_embeddings().weight)


def test_grounding_adds_a_token_loss_that_reaches_the_learned_vectors(saved, kind):
    import numpy as np

    config, losses = ErasingConfig(grid=tiny_config(kind).grid), {}
    for weight in (0.0, 1.0):
        pipe = fresh(saved, kind)
        model = ErasingTraining(pipe, config, grounding_weight=weight)
        batches = MarkBatches(pipe.tokenizer, 2, WorldConfig(mark_prob=1.0), image_size(pipe)[0], erasing=config)
        batch = batches.batch(np.random.default_rng(0))
        torch.manual_seed(0)
        loss = model.loss(batch)
        (grad,) = torch.autograd.grad(loss, model.vectors)
        losses[weight] = float(loss)
        assert grad[0].abs().sum() > 0  # the concept's vector
    assert losses[1.0] > losses[0.0]  # the same noise and timesteps, plus a positive token loss


def test_object_grounding_reads_the_captions_phrases_before_the_marks_words(saved):
    import numpy as np

    pipe, config = fresh(saved, "shapes"), ErasingConfig(grid=(4, 4))  # gfx's tokenizer fits a whole caption
    model = ErasingTraining(pipe, config, grounding_weight=1.0)
    size = image_size(pipe)[0]
    batches = MarkBatches(pipe.tokenizer, 2, WorldConfig(mark_prob=1.0), size, erasing=config,
                          region_size=size // latent_codec(pipe).factor)
    batch = batches.batch(np.random.default_rng(0))
    learned = torch.isin(batch["input_ids"], torch.tensor(model.ids))
    assert batch["grounded"].any() and not (batch["grounded"] & learned).any()
    torch.manual_seed(0)
    with_objects = model.loss(batch)
    torch.manual_seed(0)
    without = model.loss({k: v for k, v in batch.items() if k not in ("regions", "grounded")})
    assert with_objects != without
    model.object_weight = 0.0  # objects weighed out: the mark's words alone, as without the phrases' regions
    torch.manual_seed(0)
    assert torch.isclose(model.loss(batch), without)


def test_negative_prompt_replaces_the_uncond_branch_and_empty_is_the_old_output(saved, kind):
    pipe = fresh(saved, kind)
    seen = []

    def record(module, args, kwargs):
        seen.append(kwargs["encoder_hidden_states"].clone())

    plain = text_to_image(pipe, [PROMPT], seed=0, steps=2)
    assert torch.equal(text_to_image(pipe, [PROMPT], seed=0, steps=2, negative_prompt=""), plain)
    handle = pipe.unet.register_forward_pre_hook(record, with_kwargs=True)
    try:
        negated = text_to_image(pipe, [PROMPT], seed=0, steps=2, negative_prompt="a blue star")
    finally:
        handle.remove()
    uncond, cond = seen[0].chunk(2)
    assert torch.equal(uncond, encode_prompts(pipe, ["a blue star"]))
    assert torch.equal(cond, encode_prompts(pipe, [PROMPT]))
    assert not torch.allclose(negated, plain)
    latents = initial_latents(pipe, 1, *plain.shape[-2:], seed=0)
    with torch.no_grad():
        direct = denoise(pipe, encode_prompts(pipe, [PROMPT]), encode_prompts(pipe, ["a blue star"]), latents,
                         steps=2)
    from gfx.image.codec import latent_codec

    assert torch.equal(latent_codec(pipe).decode(direct), negated)


def test_the_control_sets_the_learned_negative_on_a_stable_diffusion_pipeline(saved, tmp_path):
    from safetensors.torch import load_file

    pipe = fresh(saved, "sd")
    learned = fine_tune(pipe, tiny_config("sd"))
    negative = "<mark> <l0> <l1> <l2> <l3>"
    assert learned.negative_prompt() == negative and learned.negative_prompt([1]) == "<mark> <l1>"
    steered = text_to_image(pipe, [PROMPT], seed=1, steps=2, controls=[GeomErasing(learned)])
    assert torch.equal(steered, text_to_image(pipe, [PROMPT], seed=1, steps=2, negative_prompt=negative))
    assert not torch.allclose(steered, text_to_image(pipe, [PROMPT], seed=1, steps=2))
    # diffusers reads the saved vectors as textual inversions and gives the same negative states
    learned.save(tmp_path)
    other = fresh(saved, "sd")
    vectors = load_file(str(tmp_path / "learned_embeds.safetensors"))
    other.load_textual_inversion(list(vectors.values()), token=list(vectors))
    assert torch.equal(encode_prompts(other, [negative]), encode_prompts(pipe, [negative]))
    too_many = ErasingEmbeddings.initial(pipe, ErasingConfig(grid=(4, 4)))
    with pytest.raises(ValueError, match="exceeds the tokenizer's 16 tokens"):
        GeomErasing(too_many).negative(pipe)


def test_a_separate_scale_adds_a_negative_guidance_term_and_keeps_the_empty_prompt(saved, kind):
    from gfx.image.codec import latent_codec

    pipe = fresh(saved, kind)
    learned = fine_tune(pipe, tiny_config(kind))
    control = GeomErasing(learned, scale=2.0)
    text = learned.negative_prompt()
    assert control.negative(pipe) == "" and control.guidance_terms(pipe) == [(text, -2.0)]
    assert GeomErasing(learned).guidance_terms(pipe) == []
    own = ErasingEmbeddings(dataclasses.replace(learned.config, scale=2.0), learned.vectors)  # a saved default
    assert GeomErasing(own).guidance_terms(pipe) == [(text, -2.0)] and GeomErasing(own).negative(pipe) == ""
    steered = text_to_image(pipe, [PROMPT], seed=0, steps=2, controls=[control])
    guidance = 3.0
    cond, uncond, concept = (encode_prompts(pipe, [t]) for t in (PROMPT, "", text))
    latents = initial_latents(pipe, 1, *steered.shape[-2:], seed=0)
    scheduler = pipe.scheduler
    scheduler.set_timesteps(2)
    expected = latents * scheduler.init_noise_sigma
    with torch.no_grad():  # the loop written out: eps_u + g (eps_c - eps_u) - 2 (eps_concept - eps_u)
        for t in scheduler.timesteps:
            eps_u, eps_c, eps_k = (pipe.unet(scheduler.scale_model_input(expected, t), t, encoder_hidden_states=s).sample
                                   for s in (uncond, cond, concept))
            expected = scheduler.step(eps_u + guidance * (eps_c - eps_u) - 2.0 * (eps_k - eps_u), t, expected).prev_sample
    direct = text_to_image(pipe, [PROMPT], seed=0, steps=2, guidance=guidance, controls=[control])
    assert torch.allclose(direct, latent_codec(pipe).decode(expected), atol=1e-4)
    plain = text_to_image(pipe, [PROMPT], seed=0, steps=2, guidance=guidance)
    with torch.no_grad():
        same = denoise(pipe, cond, uncond, latents, steps=2, guidance=guidance, terms=[(uncond, 5.0)])
    assert torch.allclose(latent_codec(pipe).decode(same), plain, atol=1e-5)  # a term equal to uncond adds nothing


def test_a_window_applies_the_negative_term_only_in_its_steps(saved, kind):
    pipe = fresh(saved, kind)
    learned = fine_tune(pipe, tiny_config(kind))
    text = learned.negative_prompt()
    cond, uncond, concept = (encode_prompts(pipe, [t]) for t in (PROMPT, "", text))
    latents = initial_latents(pipe, 1, *image_size(pipe), seed=0)
    scheduler = pipe.scheduler
    scheduler.set_timesteps(4)
    expected = latents * scheduler.init_noise_sigma
    with torch.no_grad():  # the term acts in steps 0 and 1 of 4 (progress 0, 0.25), not at 0.5 and 0.75
        for i, t in enumerate(scheduler.timesteps):
            eps_u, eps_c, eps_k = (pipe.unet(scheduler.scale_model_input(expected, t), t, encoder_hidden_states=s).sample
                                   for s in (uncond, cond, concept))
            noise = eps_u + 3.0 * (eps_c - eps_u) - (2.0 * (eps_k - eps_u) if i < 2 else 0)
            expected = scheduler.step(noise, t, expected).prev_sample
    windowed = text_to_image(pipe, [PROMPT], seed=0, steps=4, guidance=3.0,
                             controls=[GeomErasing(learned, scale=2.0, window=(0.0, 0.5))])
    assert torch.allclose(windowed, latent_codec(pipe).decode(expected), atol=1e-4)
    always = text_to_image(pipe, [PROMPT], seed=0, steps=4, guidance=3.0, controls=[GeomErasing(learned, scale=2.0)])
    assert not torch.allclose(windowed, always, atol=1e-4)
    for bad in (dict(window=(0.0, 0.5)), dict(scale=2.0, window=(0.6, 0.2)), dict(scale=2.0, window=(0.0, 1.5))):
        with pytest.raises(ValueError, match="needs a scale"):
            GeomErasing(learned, **bad)


def test_a_region_confines_the_negative_term_to_its_boxes(saved, kind):
    pipe = fresh(saved, kind)
    learned = fine_tune(pipe, tiny_config(kind))
    corners = [(0.0, 0.0, 0.25, 0.25), (0.75, 0.75, 1.0, 1.0)]  # two corners, a sixteenth of the image each
    control = GeomErasing(learned, scale=2.0, region=corners)
    [(text, weight)] = control.guidance_terms(pipe)
    cond, uncond, concept = (encode_prompts(pipe, [t]) for t in (PROMPT, "", text))
    latents = initial_latents(pipe, 1, *image_size(pipe), seed=0)
    h, w = latents.shape[-2:]
    inside = torch.zeros(1, 1, h, w, dtype=torch.bool)
    inside[..., : h // 4, : w // 4] = inside[..., -(h // 4):, -(w // 4):] = True
    assert weight.shape == (1, 1, h, w) and torch.equal(weight, -2.0 * inside.float())
    own = ErasingEmbeddings(dataclasses.replace(learned.config, scale=2.0, region=tuple(corners)), learned.vectors)
    assert torch.equal(GeomErasing(own).guidance_terms(pipe)[0][1], weight)  # a saved default
    with torch.no_grad():
        plain, confined, everywhere, full_map = (
            denoise(pipe, cond, uncond, latents, steps=1, guidance=3.0, terms=terms)
            for terms in ((), [(concept, weight)], [(concept, -2.0)], [(concept, -2.0 * torch.ones(1, 1, 2, 2))]))
    inside = inside.expand_as(plain)
    # one step of a pointwise scheduler: the term moves the latent inside the boxes only, as much as everywhere there
    # (outside, up to float rounding: the UNet batch grows by the term's prompt, and CPU kernels round by batch size)
    outside_moved = (confined[~inside] - plain[~inside]).abs().max()
    assert outside_moved < 1e-5 and not torch.allclose(confined[inside], plain[inside], atol=1e-3, rtol=0)
    assert torch.allclose(confined[inside], everywhere[inside]) and torch.allclose(full_map, everywhere)
    with pytest.raises(ValueError, match="needs a scale"):
        GeomErasing(learned, region=corners)
    for bad in ([(0.5, 0.0, 0.2, 1.0)], [(0.0, 0.0, 1.5, 1.0)], [], [0, 3]):
        with pytest.raises(ValueError, match="a region must be boxes"):
            GeomErasing(learned, scale=2.0, region=bad)


def test_saved_embeddings_load_back_and_reproduce_generation(saved, kind, tmp_path):
    pipe = fresh(saved, kind)
    learned = fine_tune(pipe, tiny_config(kind))
    before = text_to_image(pipe, [PROMPT, "a small blue star"], seed=2, steps=2, controls=[GeomErasing(learned)])
    learned.save(tmp_path)
    loaded = ErasingEmbeddings.load(tmp_path)
    assert loaded.config == learned.config and list(loaded.vectors) == list(learned.vectors)
    again = text_to_image(fresh(saved, kind), [PROMPT, "a small blue star"], seed=2, steps=2,
                          controls=[GeomErasing(tmp_path)])
    assert torch.equal(again, before)
    with pytest.raises(FileNotFoundError, match="no learned concept"):
        GeomErasing(tmp_path / "missing")


def test_recipe_cli_and_evaluation_on_a_saved_pipeline(saved, tmp_path, monkeypatch):
    import json

    from gfx.jobs import JOB_KINDS
    from gfx.jobs.spec import parse_job
    from gfx.recipes import get_evaluation, get_recipe
    from gfx.recipes.run import train_recipe

    monkeypatch.setattr(gfx.recipes.run, "RUNS_DIR", tmp_path / "runs")
    recipe = get_recipe("geom-erasing")
    with pytest.raises(ValueError, match="--init-from"):
        train_recipe(recipe, tmp_path / "none", config=recipe.config_class.from_name("tiny", **MODEL_REMOVAL),
                     device="cpu")
    out = tmp_path / "geom-erasing-toy"
    facts = train_recipe(recipe, out, config=recipe.config_class.from_name("tiny", **MODEL_REMOVAL), device="cpu",
                         init_from=str(saved["shapes"]))
    assert facts["steps"] == 2 and facts["setting"] == "model removal" and len(facts["tokens"]) == 17
    assert {p.name for p in out.iterdir()} == {"learned_embeds.safetensors", "geom_erasing.json", "train.json",
                                               "metrics.json", "README.md"}
    assert "gfx train geom-erasing --config models/geom-erasing-toy/train.json" in (out / "README.md").read_text()
    data_removal = tmp_path / "geom-erasing-data"
    facts = train_recipe(recipe, data_removal, config=recipe.config_class.from_name("tiny"), device="cpu",
                         init_from=str(saved["shapes"]))  # the default: data removal, grounded, steering in the boxes
    tuned, learned = load_pipeline(data_removal), ErasingEmbeddings.load(data_removal)  # the pipeline holds them
    assert facts["setting"] == "data removal" and learned.config.scale == 15.0
    assert learned.config.region == tuple(mark_box(corner) for corner in CORNERS)
    assert "a negative guidance term of its own at scale 15 inside the mark's boxes" in (
        data_removal / "README.md").read_text()
    ids = tuned.tokenizer.convert_tokens_to_ids(list(learned.vectors))
    stored = tuned.text_encoder.get_input_embeddings().weight[ids].float()  # saved in float16, as the base was
    assert torch.equal(stored, torch.stack(list(learned.vectors.values())).half().float())

    runner = CliRunner()
    result = runner.invoke(app, ["image", "generate", PROMPT, "--seed", "1", "--steps", "2", "--model",
                                 str(saved["shapes"]), "--negative-concept", str(out), "-o", str(tmp_path / "img")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["image", "generate", PROMPT, "--negative-concept", str(tmp_path), "-o",
                                 str(tmp_path / "img")])
    assert result.exit_code == 2 and "no learned concept" in result.output
    line = {"kind": "generate-image", "prompt": PROMPT, "steps": 2, "model": str(saved["shapes"]),
            "negative_concept": str(out)}
    job = parse_job(json.dumps(line), 1, tmp_path)
    assert list(JOB_KINDS["generate-image"].handler(job.params, {})) == ["-0.png"]

    report = get_evaluation("image-controls")(split="val", limit=1, model=str(saved["shapes"]),
                                              negative_concept=str(out), seeds=2, steps=2)
    section = report["geom_erasing"]
    assert section["negative_prompt"].startswith("<mark> <l0> <l1>") and section["prompts"] == 1
    assert len(section["concept_rate"]["with"]["per_seed"]) == 2
    assert set(section["quality"]) == {"without", "with", "change", "within_limit"}
    card = recipe.card(out.name, {**json.loads((out / "metrics.json").read_text()), "eval": report})
    assert len(card.metrics) == 2


def test_image_controls_reports_erasing_fid_on_world_features_or_how_to_train_them(saved, tmp_path, monkeypatch):
    from gfx.image.world_features import WorldFeatureNet, WorldFeaturesConfig
    from gfx.recipes import get_evaluation
    from gfx.recipes.geom_erasing import erasing_tables

    ErasingEmbeddings.initial(fresh(saved, "shapes"), ErasingConfig(grid=(4, 4))).save(tmp_path / "erasing")
    evaluate = get_evaluation("image-controls")
    torch.manual_seed(0)
    features = WorldFeatureNet(WorldFeaturesConfig.from_name("tiny")).eval()
    report = evaluate(split="val", limit=1, model=str(saved["shapes"]), negative_concept=str(tmp_path / "erasing"),
                      seeds=2, steps=2, features=features)
    fid = report["geom_erasing"]["fid"]
    assert fid["real_images"] == 10 and "16-d" in fid["feature_extractor"]
    assert fid["with"] >= 0 and fid["without"] >= 0 and fid["change"] == round(fid["with"] - fid["without"], 3)
    assert erasing_tables(report)[1].rows[-1] == ["FID (world features, lower is better)", f"{fid['without']:.3f}",
                                                  f"{fid['with']:.3f}", f"{fid['change']:+.3f}"]
    monkeypatch.setattr("gfx.models.MODELS_DIR", tmp_path)  # no world-features there
    report = evaluate(split="val", limit=1, model=str(saved["shapes"]), negative_concept=str(tmp_path / "erasing"),
                      seeds=2, steps=2)
    assert report["geom_erasing"]["fid"] == {
        "missing": f"{tmp_path / 'world-features'} is missing: FID needs the world's feature extractor; train it "
                   "with `gfx train world-features`"}
    monkeypatch.undo()  # the shipped models again
    data_removal = tmp_path / "data-removal"  # a pipeline with its learned words: it samples "with" itself
    shutil.copytree(saved["shapes"], data_removal)
    ErasingEmbeddings.initial(fresh(saved, "shapes"), ErasingConfig(grid=(4, 4), scale=2.0)).save(data_removal)
    report = evaluate(split="val", limit=1, negative_concept=str(data_removal), seeds=2, steps=2)
    assert report["model"] == "shipped" and report["geom_erasing"]["without_model"] == "shipped"
