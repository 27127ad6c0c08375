"""IconCLIP: training signal, save/load, batching, retrieval maths, bulk prompt embedding, the recipe
and the shipped evaluator."""

import json
import logging

import numpy as np
import pytest
import torch

import gfx.recipes.icon_clip
import gfx.recipes.run
from gfx.backbones.text_encoder import text_encoder
from gfx.data.icons import load_icons
from gfx.recipes.icon_clip import (
    augment_prompt,
    contrastive_batches,
    corpus_rasters,
    evaluate_icon_clip,
)
from gfx.svg.icon_clip import (
    DEFAULT_MODEL_DIR,
    IconCLIP,
    IconCLIPConfig,
    luminance,
    rasterize,
    retrieval_metrics,
    to_ink,
)
from gfx.train import TrainConfig, train


def tiny_model(seed: int = 0) -> IconCLIP:
    torch.manual_seed(seed)
    return IconCLIP(IconCLIPConfig.from_name("tiny"))


def toy_set(n: int = 8):
    """n images with a black rectangle of a different size each, and n random text features.

    (Sizes, not positions: the mean-pooled CNN is nearly blind to where a shape sits.)
    """
    gray = np.full((n, 32, 32), 255, np.uint8)
    for i in range(n):
        gray[i, 2 : 6 + 3 * i, 2 : 30 - 3 * i] = 0
    text = np.random.default_rng(0).normal(size=(n, 384)).astype(np.float32)
    return gray, text


def test_tiny_model_learns_a_toy_set():
    gray, text = toy_set()
    model = tiny_model()
    result = train(model, contrastive_batches(gray, text, batch_size=8, seed=0, augment=False),
                   TrainConfig(steps=40, lr=1e-2, warmup_steps=2, log_every=100))
    first, last = result.history[0]["loss"], result.history[-1]["loss"]
    assert last < first - 1.0 and last < 0.5 * np.log(8)  # log(8): guessing among the 8 pairs
    metrics = retrieval_metrics(model.encode_images(gray), model.project_text(text))
    assert metrics["image_to_text_top1"] >= 0.75


def test_save_load_round_trip_gives_identical_embeddings(tmp_path):
    gray, text = toy_set()
    model = tiny_model()
    model.save_pretrained(tmp_path)
    loaded = IconCLIP.from_pretrained(tmp_path)
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.encode_images(gray), model.encode_images(gray))
    np.testing.assert_array_equal(loaded.project_text(text), model.project_text(text))
    np.testing.assert_array_equal(loaded.image_features(gray), model.image_features(gray))
    model.save_pretrained(tmp_path / "fp16", dtype=torch.float16)  # how the recipe ships it
    half = IconCLIP.from_pretrained(tmp_path / "fp16")
    np.testing.assert_allclose(half.encode_images(gray), model.encode_images(gray), atol=5e-3)


def test_contrastive_batches_are_a_function_of_seed_and_epoch():
    gray, text = toy_set()
    variants = np.stack([text, -text], axis=1)  # (N, 2, 384)
    data = contrastive_batches(gray, variants, batch_size=4, seed=3)
    first, again, other = list(data(0)), list(data(0)), list(data(1))
    assert len(first) == 2
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a["ink"], b["ink"]) and torch.equal(a["text"], b["text"])
    assert not torch.equal(first[0]["ink"], other[0]["ink"])
    batch = first[0]
    assert batch["ink"].shape == (4, 1, 32, 32) and batch["text"].shape == (4, 384)
    assert 0.0 <= batch["ink"].min() and batch["ink"].max() <= 1.0
    rows = {tuple(np.round(r, 4)) for r in np.concatenate([text, -text])}
    assert all(tuple(np.round(r, 4)) in rows for r in batch["text"].numpy())  # one of the variants
    with pytest.raises(ValueError, match="batch_size"):
        contrastive_batches(gray, text, batch_size=16, seed=0)


def test_retrieval_metrics_exact_values():
    eye = np.eye(3)
    # image 0 -> text 0, image 1 -> text 2 (wrong), image 2 -> text 2
    images = np.array([[1.0, 0, 0], [0, 0.6, 0.8], [0, 0, 1.0]])
    m = retrieval_metrics(images, eye, ks=(1, 2))
    assert m["image_to_text_top1"] == pytest.approx(2 / 3)
    assert m["image_to_text_top2"] == 1.0
    # text 0 -> image 0; text 1 -> image 1; text 2 -> image 2 (1.0 beats 0.8)
    assert m["text_to_image_top1"] == 1.0
    assert m["chance_top1"] == pytest.approx(1 / 3) and m["chance_top2"] == pytest.approx(2 / 3)
    assert m["matched_score"] == pytest.approx((1 + 0.6 + 1) / 3)
    assert m["mismatched_score"] == pytest.approx(0.8 / 6)
    # texts 1 and 2 share a prompt: retrieving either is correct
    merged = retrieval_metrics(images, eye, ["a", "b", "b"], ks=(1,))
    assert merged["image_to_text_top1"] == 1.0
    with pytest.raises(ValueError, match="as many images as texts"):
        retrieval_metrics(images, eye[:2])


def test_luminance_and_ink_conventions():
    rgba = np.zeros((1, 4, 4, 4), np.uint8)  # fully transparent -> white background
    rgba[0, 0, 0] = (0, 0, 0, 255)  # one opaque black pixel
    gray = luminance(rgba)
    assert gray.shape == (1, 4, 4) and gray[0, 0, 0] == 0 and gray[0, 1, 1] == 255
    assert luminance(np.full((2, 3, 3, 3), (255, 0, 0), np.uint8))[0, 0, 0] == 76  # Rec. 601 red
    ink = to_ink(gray, 4)
    assert ink[0, 0, 0, 0] == 1.0 and ink[0, 0, 1, 1] == 0.0
    assert to_ink(np.zeros((1, 8, 8), np.uint8), 4).shape == (1, 1, 4, 4)
    with pytest.raises(ValueError, match="uint8"):
        luminance(np.zeros((1, 4, 4), np.float32))


def test_svgs_and_their_renders_embed_the_same(stroke_icon, filled_icon):
    model = tiny_model()
    svgs = [stroke_icon, filled_icon]
    gray = rasterize(svgs, model.config.image_size, model.config.background)
    assert gray.shape == (2, 32, 32) and gray.min() < 64 and gray.max() == 255
    np.testing.assert_array_equal(model.encode_images(svgs), model.encode_images(gray))
    with pytest.raises(ValueError, match="one prompt per image"):
        model.score(svgs, ["house"])
    with pytest.raises(ValueError, match="no images"):
        model.encode_images([])


def test_augment_prompt_subsamples_and_shuffles_keywords():
    text = "arrow left, direction, west, back, navigation"
    rng = np.random.default_rng(0)
    outputs = [augment_prompt(text, rng) for _ in range(50)]
    keywords = set(text.split(", "))
    for out in outputs:
        parts = out.split(", ")
        assert parts and set(parts) <= keywords and len(parts) == len(set(parts))
    assert len(set(outputs)) > 10
    assert outputs == [augment_prompt(text, r) for r in [np.random.default_rng(0)] for _ in range(50)]
    assert augment_prompt("ethernet", rng) == "ethernet"


def test_recipe_writes_a_model_and_card_and_resumes(tmp_path, monkeypatch):
    from gfx.recipes import get_recipe
    from gfx.recipes.run import train_recipe

    monkeypatch.setattr(gfx.recipes.run, "RUNS_DIR", tmp_path / "runs")  # the project-wide run directory
    monkeypatch.setattr(gfx.recipes.icon_clip, "CACHE_DIR", tmp_path / "cache")
    recipe = get_recipe("icon-clip")
    config = recipe.config_class.from_name("tiny")
    out = tmp_path / "models" / "icon-clip"
    seen = []
    first = train_recipe(recipe, out, config=config, progress=seen.append, device="cpu")
    assert first["steps"] == 3 and first["eval"]["n"] == 16
    assert (tmp_path / "runs" / "icon-clip" / "checkpoint" / "trainer.pt").is_file()
    assert [(p.step, p.steps) for p in seen] == [(1, 3), (2, 3), (3, 3)]  # gfx.train.Progress, as `gfx train` expects
    card = (out / "README.md").read_text()
    for needed in ("gfx train icon-clip", "image -> text", "chance", "matched pairs", "3 steps"):
        assert needed in card
    assert json.loads((out / "metrics.json").read_text())["eval"]["image_to_text_top1"] == first["eval"]["image_to_text_top1"]
    resumed = train_recipe(recipe, out, config=config, steps=5, device="cpu")
    assert resumed["steps"] == 5
    assert IconCLIP.from_pretrained(out).config == IconCLIPConfig.from_name("tiny")


def test_embed_many_matches_embed_in_input_order_and_logs_truncation_once(caplog):
    encoder = text_encoder()
    long = ", ".join(f"keyword{i}" for i in range(40))  # far over the 32-token limit
    prompts = ["house", long, "arrow left, direction, west", "a", long + ", more"]
    with caplog.at_level(logging.DEBUG, logger="gfx.backbones.text_encoder"):
        many = encoder.embed_many(prompts, batch_size=2)
    assert many.shape == (5, 384) and many.dtype == np.float32
    for i, prompt in enumerate(prompts):
        np.testing.assert_allclose(many[i], encoder.embed([prompt], warn=False)[0].numpy(), atol=1e-6)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    [summary] = [r for r in caplog.records if r.levelno == logging.INFO]
    assert summary.getMessage() == "2 of 5 prompts exceed 32 tokens and are truncated"
    assert encoder.embed_many([]).shape == (0, 384)


def test_corpus_rasters_cache_and_split_evaluation(tmp_path):
    records = load_icons(split="val")[:4]
    gray = corpus_rasters(records, 32, "white", cache_dir=tmp_path)
    [cached] = tmp_path.glob("rasters-32-*.npz")
    np.testing.assert_array_equal(gray, rasterize([r.svg for r in records], 32, "white"))
    np.savez_compressed(cached, gray=gray[::-1])  # a second call must read the file, not render again
    np.testing.assert_array_equal(corpus_rasters(records, 32, "white", cache_dir=tmp_path), gray[::-1])
    cached.unlink()
    model = tiny_model()
    metrics = evaluate_icon_clip(model, split="val", limit=4, cache_dir=tmp_path)
    expected = retrieval_metrics(model.encode_images(gray), model.encode_texts([r.text for r in records]),
                                 [r.text for r in records])
    assert metrics == expected and metrics["n"] == 4


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "model.safetensors").is_file(), reason="models/icon-clip not trained")
def test_shipped_evaluator_ranks_matching_prompts_first():
    model = IconCLIP.from_pretrained(DEFAULT_MODEL_DIR)
    records = load_icons(split="val")[::16][:50]  # spread over every source
    svgs, prompts = [r.svg for r in records], [r.text for r in records]
    metrics = model.retrieval_accuracy(svgs, prompts)
    assert metrics["image_to_text_top5"] >= 3 * metrics["chance_top5"]
    assert metrics["text_to_image_top5"] >= 3 * metrics["chance_top5"]
    matched = model.score(svgs, prompts)
    shuffled = model.score(svgs, prompts[1:] + prompts[:1])
    assert np.mean(matched > shuffled) >= 0.8
    features = model.image_features(svgs)
    assert features.shape == (50, model.config.channels[-1]) and np.isfinite(features).all()
