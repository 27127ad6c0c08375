"""Every `gfx train` recipe runs end to end at toy size through the shared skeleton: trains, resumes, saves a
loadable model with its `train.json` and card; every shipped model's `train.json` loads back and is its recipe's
default schedule; the card writer renders the same sections for every model.
"""

import json

import pytest
import torch

import gfx.recipes.run
from gfx.models import MODELS_DIR
from gfx.recipes import RECIPES, get_recipe
from gfx.recipes.batching import Batches, by_size, tensor_batches
from gfx.recipes.run import TRAIN_CONFIG_NAME, rewrite_card, train_recipe


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    """Training state goes to a temporary RUNS_DIR, never to the repository's .cache/train."""
    monkeypatch.setattr(gfx.recipes.run, "RUNS_DIR", tmp_path / "runs")
    torch.set_num_threads(1)


def run_tiny(name, out, **overrides):
    recipe = get_recipe(name)
    return train_recipe(recipe, out, config=recipe.config_class.from_name("tiny"), device="cpu", **overrides)


def assert_shipped_layout(out_dir, name, steps):
    card = json.loads((out_dir / "metrics.json").read_text())
    readme = (out_dir / "README.md").read_text()
    config = get_recipe(name).config_class.from_json(out_dir / TRAIN_CONFIG_NAME)
    assert config.preset == "tiny" and config.steps == steps
    assert card["device"] == "cpu"
    assert readme.startswith("---\nlicense: mit\nlibrary_name: gfx\n")
    assert f"gfx train {name} --config models/{out_dir.name}/train.json" in readme
    assert "## Run history" in readme and "## Use" in readme
    return card


SHIPPED_RECIPES = sorted(n for n in RECIPES if (MODELS_DIR / get_recipe(n).model_name / "metrics.json").is_file())


def test_every_shipped_model_has_its_recipe():
    assert SHIPPED_RECIPES == ["core-concept", "fullpart", "geom-erasing", "hita", "icon-clip", "iconshop", "llm4svg",
                               "mesh-classifier", "shapes-diffusion", "starvector", "style-tokenizer", "svgcraft-layout",
                               "textual-inversion", "vat", "world-features", "xar"]


@pytest.mark.parametrize("name", SHIPPED_RECIPES)
def test_shipped_train_json_is_the_recipe_default_and_the_card_regenerates_unchanged(name, tmp_path):
    """`gfx train NAME --config models/X/train.json` is the shipped schedule; the card is a function of the facts."""
    import shutil

    recipe = get_recipe(name)
    shipped = MODELS_DIR / recipe.model_name
    config = recipe.config_class.from_json(shipped / TRAIN_CONFIG_NAME)
    assert config.replace(init_from=None) == recipe.config_class()
    copy = tmp_path / recipe.model_name
    copy.mkdir()
    for file in ("metrics.json", TRAIN_CONFIG_NAME):
        shutil.copy(shipped / file, copy / file)
    rewrite_card(recipe, copy)
    assert (copy / "README.md").read_text() == (shipped / "README.md").read_text()


def test_gfx_train_config_gives_the_schedule_and_flags_override_it(tmp_path, monkeypatch):
    """`gfx train NAME --config train.json --steps N`: the config's fields, with the flag's value, saved again."""
    from typer.testing import CliRunner

    import gfx.recipes.icon_clip
    from gfx.cli import app

    monkeypatch.setattr(gfx.recipes.icon_clip, "CACHE_DIR", tmp_path / "cache")
    config = get_recipe("icon-clip").config_class.from_name("tiny", lr=2e-3)
    config.to_json(tmp_path / "train.json")
    out = tmp_path / "icon-clip-toy"
    result = CliRunner().invoke(app, ["train", "icon-clip", "--config", str(tmp_path / "train.json"), "--out", str(out),
                                      "--steps", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert get_recipe("icon-clip").config_class.from_json(out / TRAIN_CONFIG_NAME) == config.replace(steps=2)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2


def test_recipe_config_overrides_and_schedule():
    config = get_recipe("iconshop").config_class()
    short = config.replace(steps=40)
    assert short.schedule().warmup_steps == 4  # warmup is at most a tenth of the run
    assert config.schedule().warmup_steps == 200 and config.schedule().eval_batches == 10
    with pytest.raises(ValueError, match="unknown keys"):
        config.replace(stepz=3)


def test_batches_resume_mid_epoch_identically_and_group_by_size():
    data = {"x": torch.arange(10)}
    batches = tensor_batches(data, 3, seed=1)
    full, resumed = list(batches(2)), list(batches(2, start=1))
    assert len(full) == 3 and all(torch.equal(a["x"], b["x"]) for a, b in zip(full[1:], resumed, strict=True))
    assert not torch.equal(full[0]["x"], next(iter(batches(3)))["x"])
    sizes = [5, 1, 5, 1, 5, 1]
    grouped = Batches(6, 3, lambda index, rng: {"i": torch.from_numpy(index)}, order=by_size(sizes))
    assert sorted({sizes[i] for i in b["i"].tolist()}.pop() for b in grouped(0)) == [1, 5]
    assert all(len({sizes[i] for i in b["i"].tolist()}) == 1 for b in grouped(0))
    with pytest.raises(ValueError, match="cannot fill a batch"):
        tensor_batches(data, 11, seed=0)


def test_svgcraft_layout_recipe_ships_a_layout_model_with_its_card(tmp_path):
    from gfx.recipes.svgcraft import layout_table
    from gfx.recipes.svgcraft_eval import evaluate_layout_split
    from gfx.svg.svgcraft import SVGCraftLayout

    out = tmp_path / "svgcraft-layout-toy"
    card = run_tiny("svgcraft-layout", out)
    assert_shipped_layout(out, "svgcraft-layout", 2)
    assert card["steps"] == 2 and card["val_loss"] is not None and card["train_layouts"] == 16
    pipe = SVGCraftLayout.from_pretrained(out)
    report = evaluate_layout_split(pipe, limit=6)
    model, baseline = report["methods"]["svgcraft-layout"], report["methods"]["row baseline"]
    assert model["validity"] == 1.0 and model["count_accuracy"] > 0  # counts hold by the grammar
    assert baseline["count_accuracy"] == 1.0 and 0 <= baseline["relation_accuracy"] < 1
    assert "relation acc." in layout_table(report).columns


def test_llm4svg_recipe_ships_a_causal_lm_with_the_svg_tokens_its_reranker_and_its_card(tmp_path):
    from gfx.svg.core.metrics import is_valid_svg
    from gfx.svg.llm4svg import LLM4SVG

    out = tmp_path / "llm4svg-toy"
    recipe = get_recipe("llm4svg")
    config = recipe.config_class.from_name("tiny", draw_variants=1, reranker="icon-clip-disjoint", candidates=2)
    card = train_recipe(recipe, out, config=config, device="cpu")
    assert_shipped_layout(out, "llm4svg", 2)
    assert card["steps"] == 2 and card["val_loss"] is not None and card["train_icons"] == 12
    assert card["tasks"]["draw"] >= 2 * 12 and "keyword prompts and the icon moved" in (out / "README.md").read_text()
    assert (out / "lm" / "config.json").is_file() and (out / "lm" / "tokenizer.json").is_file()
    pipe = LLM4SVG.from_pretrained(out)
    assert pipe.lm.config.vocab_size == card["text_vocab"] + card["svg_tokens"]  # the saved tokens, none added
    [icon] = pipe("star", n=1, seed=0)
    assert is_valid_svg(icon.svg) and icon.info["candidates"] == 2 and pipe.reranker is not None


@pytest.mark.slow
def test_iconshop_recipe_trains_resumes_and_ships_a_generator(tmp_path):
    from gfx.svg.iconshop import IconShop

    out = tmp_path / "iconshop-toy"
    run_tiny("iconshop", out)
    card = run_tiny("iconshop", out, steps=5, prefetch=2)  # resumes at step 3
    assert_shipped_layout(out, "iconshop", 5)
    assert card["steps"] == 5 and card["val_loss"] is not None and card["parameters"] > 0
    [icon] = IconShop.from_pretrained(out)("star", n=1, seed=0)
    assert icon.svg.startswith("<svg")


@pytest.mark.slow
def test_starvector_recipe_ships_a_vectorizer(tmp_path):
    from gfx.svg.starvector import StarVector

    out = tmp_path / "starvector-toy"
    card = run_tiny("starvector", out)
    assert_shipped_layout(out, "starvector", 2)
    assert card["steps"] == card["planned_steps"] == 2
    assert StarVector.from_pretrained(out).config.image_size == 32  # the tiny preset


@pytest.mark.slow
def test_vat_recipe_ships_tokenizer_and_generator(tmp_path):
    out = tmp_path / "vat-toy"
    card = run_tiny("vat", out)
    assert_shipped_layout(out, "vat", 2)
    assert card["steps"] == 2 and card["generator"]["steps"] == 2
    assert (out / "generator" / "config.json").is_file()


@pytest.mark.slow
def test_fullpart_recipe_ships_all_components(tmp_path):
    out = tmp_path / "fullpart-toy"
    card = run_tiny("fullpart", out)
    assert_shipped_layout(out, "fullpart", 2)
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(card, default=str))
    assert set(card["components"]) == {"layout", "parts", "shared"}
    assert all(c["steps"] == 2 for c in card["components"].values())


@pytest.mark.slow
def test_shapes_diffusion_recipe_ships_a_pipeline(tmp_path):
    from gfx.image.pipeline import ShapesDiffusionPipeline

    out = tmp_path / "shapes-toy"
    card = run_tiny("shapes-diffusion", out)
    assert_shipped_layout(out, "shapes-diffusion", 2)
    assert card["steps"] == 2 and "eval" not in card
    assert card["multi_object"]["steps"] == 2 and card["multi_object"]["object_counts"] == [0.35, 0.45, 0.2]
    assert card["grounding"]["steps"] == 2 and card["grounding"]["weight"] == 0.01
    readme = (out / "README.md").read_text()
    assert "multi-object stage: 2 steps" in readme and "grounding stage: 2 steps" in readme
    saved = ShapesDiffusionPipeline.from_pretrained(out, local_files_only=True)
    assert saved.config.image_size == 64 and saved.config.guidance == 5.0  # the recipe's, as shipped


def test_shapes_diffusion_warm_starts_a_frozen_minilm_pipeline_from_a_clip_one(tmp_path):
    from gfx.image.minilm import FrozenMiniLM
    from gfx.image.pipeline import ShapesDiffusionPipeline
    from gfx.recipes.shapes_diffusion import ShapesDiffusionRecipe, build, warm_start

    clip = tmp_path / "clip"
    run_tiny("shapes-diffusion", clip)
    source = ShapesDiffusionPipeline.from_pretrained(clip, local_files_only=True)
    pipe = build(ShapesDiffusionRecipe.from_name("tiny", text_encoder="minilm"))
    fresh_projection = pipe.unet.encoder_hid_proj.weight.clone()
    warm_start(pipe, clip)
    assert isinstance(pipe.text_encoder, FrozenMiniLM)
    trained = source.unet.state_dict()
    for key, value in pipe.unet.state_dict().items():
        if key.startswith("encoder_hid_proj."):
            assert value.shape[-1] == FrozenMiniLM.width or key.endswith("bias")
        else:
            assert torch.equal(value, trained[key]), key
    assert not torch.equal(pipe.unet.encoder_hid_proj.weight, fresh_projection)  # fitted, not left random

    minilm = tmp_path / "minilm"
    config = ShapesDiffusionRecipe.from_name("tiny", text_encoder="minilm", init_from=str(clip), steps=0,
                                             multi_object_steps=0)
    train_recipe(get_recipe("shapes-diffusion"), minilm, config=config, device="cpu")
    saved = ShapesDiffusionPipeline.from_pretrained(minilm, local_files_only=True)
    assert saved.config.frozen_text_encoder == FrozenMiniLM.NAME and not (minilm / "text_encoder").exists()
    with pytest.raises(ValueError, match="frozen text encoder"):
        warm_start(build(ShapesDiffusionRecipe.from_name("tiny")), minilm)


def test_text_projection_fit_brings_minilm_states_onto_the_reference():
    from gfx.image.denoise import encode_prompts
    from gfx.recipes.shapes_diffusion import ShapesDiffusionRecipe, build, fit_text_projection

    torch.manual_seed(0)
    reference, pipe = build(ShapesDiffusionRecipe.from_name("tiny")), build(
        ShapesDiffusionRecipe.from_name("tiny", text_encoder="minilm"))
    prompts = ["a large red circle", "a small blue star to the left of a green square"]

    def error():
        with torch.no_grad():
            projected = pipe.unet.encoder_hid_proj(encode_prompts(pipe, prompts))
            return float((projected[:, 0] - encode_prompts(reference, prompts)[:, 0]).pow(2).mean())

    before = error()
    r2 = fit_text_projection(pipe, reference, captions=300)
    assert 0 < r2 <= 1 and error() < before / 4  # the start tokens (position 0) are paired in the fit


def test_shapes_diffusion_object_weighted_loss_weighs_cells_near_ink():
    import numpy as np
    import torch

    from gfx.data.shapes2d.world import PALETTES
    from gfx.recipes.shapes_diffusion import DenoiserTraining, ShapesDiffusionRecipe, build
    from gfx.recipes.world_batches import WorldBatches

    pipe = build(ShapesDiffusionRecipe(preset="tiny"))
    batch = WorldBatches(pipe.tokenizer, 4).batch(np.random.default_rng(0))
    pixels = ((batch["pixels"] + 1) * 127.5).round().permute(0, 2, 3, 1)  # (B, S, S, 3)
    background = pixels[:, 0:1, 32:33]  # mid left edge: never ink in the world's layouts
    assert all(tuple(b.flatten().int().tolist()) in PALETTES.values() for b in background)
    differs = (pixels - background).abs().amax(-1) > 24
    assert torch.equal(batch["ink"][:, 0].bool(), differs) and 0 < batch["ink"].mean() < 0.5

    weighted = DenoiserTraining(pipe, object_weight=8.0, object_weight_max_t=800)
    t = torch.tensor([0, 799, 800, 999])
    weights = weighted.object_weights(batch["ink"], t, (16, 16))  # (B, 1, 16, 16)
    assert weights.shape == (4, 1, 16, 16) and torch.allclose(weights.mean(dim=(1, 2, 3)), torch.ones(4))
    near_ink = batch["ink"][:, :, 2::4, 2::4] > 0  # latent cells whose centre pixel is ink
    low = weights[:2]
    assert torch.all(low[near_ink[:2]] > 1) and torch.allclose(low.amax(dim=(1, 2, 3)) / low.amin(dim=(1, 2, 3)),
                                                               torch.full((2,), 9.0))
    assert torch.equal(weights[2:], torch.ones_like(weights[2:]))  # noisy timesteps: plain MSE

    no_ink = {**batch, "ink": torch.zeros_like(batch["ink"])}
    torch.manual_seed(0)
    plain = DenoiserTraining(pipe).loss(batch)
    torch.manual_seed(0)
    assert torch.allclose(weighted.loss(no_ink), plain)  # uniform weights: the plain MSE
    torch.manual_seed(0)
    assert not torch.allclose(weighted.loss(batch), plain)


def test_shapes_diffusion_grounding_loss_reaches_the_text_encoder():
    import numpy as np
    import torch

    from gfx.recipes.shapes_diffusion import DenoiserTraining, ShapesDiffusionRecipe, build
    from gfx.recipes.world_batches import WorldBatches

    pipe = build(ShapesDiffusionRecipe(preset="tiny"))
    batch = WorldBatches(pipe.tokenizer, 4, empty_prompt_prob=0.0, region_size=16).batch(np.random.default_rng(0))
    assert batch["regions"].shape == (4, pipe.tokenizer.model_max_length, 16, 16)
    assert batch["grounded"].sum(1).min() >= 2  # every caption grounds at least a noun and its colour
    model = DenoiserTraining(pipe)
    torch.manual_seed(0)
    plain = model.loss(batch)
    model.grounding_weight = 1.0
    torch.manual_seed(0)
    token = model.loss(batch)
    model.pixel_weight = 1.0
    torch.manual_seed(0)
    both = model.loss(batch)
    assert plain < token < both
    both.backward()
    assert pipe.text_encoder.get_input_embeddings().weight.grad.abs().sum() > 0


def test_mesh_classifier_recipe_ships_a_classifier_with_its_test_accuracy(tmp_path, monkeypatch):
    import numpy as np

    import gfx.recipes.mesh_classifier as recipe
    from gfx.mesh.classify import PointClassifier

    monkeypatch.setattr(recipe, "CACHE_DIR", tmp_path / "cache")
    out = tmp_path / "classifier-toy"
    card = run_tiny("mesh-classifier", out)
    assert_shipped_layout(out, "mesh-classifier", 2)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "classifier-parts3d-v1-6-2048-train.npz", "classifier-parts3d-v1-6-2048-val.npz"]
    e = card["eval"]
    assert e["split"] == "test" and e["objects"] == sum(v["n"] for v in e["per_category"].values()) > 0
    assert np.trace(e["confusion"]) == round(e["accuracy"] * e["objects"])
    assert "Confusion matrix" in (out / "README.md").read_text()
    assert PointClassifier.from_pretrained(out).config.categories == tuple(e["categories"])


def test_point_batches_draw_subsets_and_augment_deterministically():
    import numpy as np

    from gfx.recipes.mesh_classifier import point_batches

    points = np.random.default_rng(0).uniform(-1, 1, (6, 64, 3)).astype(np.float16)
    labels = np.arange(6, dtype=np.int64)
    plain = next(iter(point_batches(points, labels, 3, 16, seed=0, shuffle=False)(0)))
    assert plain["points"].shape == (3, 16, 3) and plain["category"].tolist() == [0, 1, 2]
    for k in range(3):  # a subset of the object's own samples, without repeats
        rows = {tuple(r) for r in points[k].astype(np.float32).tolist()}
        drawn = [tuple(r) for r in plain["points"][k].tolist()]
        assert set(drawn) <= rows and len(set(drawn)) == 16
    augmented = point_batches(points, labels, 3, 64, seed=0, shuffle=False, scale_range=(0.9, 1.1), jitter=0.01)
    a, b = next(iter(augmented(0))), next(iter(augmented(0)))
    assert torch.equal(a["points"], b["points"])
    ratio = a["points"].abs().amax(dim=1) / torch.from_numpy(np.abs(points[:3].astype(np.float32)).max(axis=1))
    assert ratio.min() > 0.85 and ratio.max() < 1.15 and not torch.equal(ratio, torch.ones_like(ratio))


def test_unseen_source_options_reach_the_evaluation_and_the_recipe(tmp_path, monkeypatch):
    """`gfx eval vectorize --protocol unseen-source --source S --limit N` scores N of S's test icons with the
    protocol's methods; `gfx train starvector --protocol unseen-source --source S` puts both in the schedule."""
    from typer.testing import CliRunner

    import gfx.recipes.vectorize
    from gfx.cli import app
    from gfx.data.icons import load_icons

    calls = []

    def compare(images, names, methods, **_):
        calls.append((names, methods))
        row = {"mse": 0.1, "ssim": 0.5, "bytes": 100.0, "fallback_rate": 0.0}
        return {m: row for m in methods}, {m: images for m in methods}

    monkeypatch.setattr(gfx.recipes.vectorize, "compare_methods", compare)
    result = CliRunner().invoke(app, ["eval", "vectorize", "--protocol", "unseen-source", "--source", "mdi",
                                      "--limit", "3"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert (report["protocol"], report["source"], report["images"]) == ("unseen-source", "mdi", 3)
    assert report["model_saw_source"] is True  # the shipped model trained on every source
    [(names, methods)] = calls
    assert set(names) <= {r.id for r in load_icons(source="mdi", split="test")}
    assert methods == gfx.recipes.vectorize.PROTOCOL_METHODS and "neural+refine+fallback" in methods

    schedules = []

    def train(recipe, out, config, resume, progress, device, **overrides):
        schedules.append(config.replace(**overrides))
        return {}

    monkeypatch.setattr(gfx.recipes.run, "train_recipe", train)
    result = CliRunner().invoke(app, ["train", "starvector", "--protocol", "unseen-source", "--source", "mdi",
                                      "--out", str(tmp_path / "sv"), "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert (schedules[0].protocol, schedules[0].source, schedules[0].steps) == ("unseen-source", "mdi", 2)


def test_starvector_recipe_under_the_protocol_trains_without_the_held_out_source():
    from gfx.recipes.starvector import splits

    config = get_recipe("starvector").config_class(protocol="unseen-source")
    train, val = splits(config)
    assert train and val and not any(r.source == "lucide" for r in train + val)
    with pytest.raises(ValueError, match="unknown training protocol 'concept-disjoint'; valid: unseen-source"):
        splits(config.replace(protocol="concept-disjoint"))


def test_compare_methods_runs_fallback_rows_with_the_fallback_and_counts_it(monkeypatch):
    import numpy as np

    import gfx.svg.vectorization.vectorizer as vectorizer
    from gfx.recipes.vectorize import compare_methods

    real = vectorizer.vectorize
    seen = []

    def fake(image, method, fallback=False, **kw):
        seen.append((method, fallback))
        result = real(image, "vtracer")
        result.info["fallback"] = "vtracer" if fallback and image[0, 0, 0] == 0 else None
        return result

    monkeypatch.setattr(vectorizer, "vectorize", fake)
    images = [np.full((32, 32, 3), 255, np.uint8) for _ in range(4)]
    for image in images[:3]:
        image[:, :16] = 0
    table, _ = compare_methods(images, list("abcd"), ("neural+refine", "neural+refine+fallback"))
    assert seen == [("neural+refine", False)] * 4 + [("neural+refine", True)] * 4
    assert table["neural+refine"]["fallback_rate"] == 0.0
    assert table["neural+refine+fallback"]["fallback_rate"] == 0.75


def test_the_starvector_card_table_of_a_protocol_report_names_it_and_shows_the_fallback_rate():
    from pathlib import Path

    from gfx.recipes.starvector import vectorize_table

    root = Path(__file__).resolve().parents[1]
    report = json.loads((root / "bench/results/vectorize-unseen-lucide-shipped.json").read_text())
    table = vectorize_table(report)
    assert table.caption.startswith("`gfx eval vectorize --protocol unseen-source --source lucide`: 30 test icons")
    assert table.columns[-2] == "fallback rate"
    assert dict((row[0], row[-2]) for row in table.rows)["neural+refine+fallback"] == "0.100"


def test_the_iconshop_card_shows_each_protocol_with_and_without_reranking_beside_the_baselines():
    from gfx.recipes.iconshop import protocol_notes, protocol_table

    facts = json.loads((MODELS_DIR / "iconshop-mini" / "metrics.json").read_text())
    shipped = json.loads((MODELS_DIR / "iconshop-mini" / "model_index.json").read_text())["config"]
    as_shipped = f"iconshop, style outline, best of {shipped['candidates']}, agreement {shipped['consensus']:g}"
    for name, reports in facts["protocols"].items():
        table = protocol_table(reports)
        assert table.caption.startswith(f"`gfx eval iconshop --protocol {name} --limit ")
        labels = [row[0] for row in table.rows]
        assert {"iconshop, style outline", as_shipped} <= set(labels)  # one plain sample, and the shipped decoding
        assert labels[-2:] == ["retrieval", "random"]
        assert {row[-1] for row in table.rows if "style outline" in row[0]} == {"100.0"}  # every sample is outline
    assert protocol_notes(facts) and not protocol_notes({**facts, "protocol": "concept-disjoint"})


@pytest.mark.parametrize("name", ["hita", "xar", "world-features"])
def test_image_ar_recipes_run_their_tiny_preset_and_ship_a_loadable_model(name, tmp_path):
    from gfx.checkpoint import load_pretrained

    recipe = get_recipe(name)
    facts = train_recipe(recipe, tmp_path / name, config=recipe.config_class.from_name("tiny"), device="cpu")
    assert facts["steps"] == 2 and (tmp_path / name / "README.md").is_file()
    assert type(load_pretrained(tmp_path / name)).__name__ == {"hita": "HitaPipeline", "xar": "XARPipeline",
                                                               "world-features": "WorldFeatureNet"}[name]
    if name == "hita":
        assert facts["generator"]["steps"] == 2


def test_hita_generator_restarts_from_a_saved_pipeline_with_the_tokenizer_kept(tmp_path):
    from gfx.image.hita import HitaPipeline

    recipe, tiny = get_recipe("hita"), get_recipe("hita").config_class.from_name("tiny")
    first = train_recipe(recipe, tmp_path / "first", config=tiny, device="cpu")
    saved = HitaPipeline.from_pretrained(tmp_path / "first")
    facts = train_recipe(recipe, tmp_path / "more", config=tiny.replace(
        steps=0, generator_steps=0, generator_restart_steps=3, init_from=str(tmp_path / "first"),
        history_note="three more steps"), device="cpu")
    more = HitaPipeline.from_pretrained(tmp_path / "more")
    assert all(torch.equal(a, b) for a, b in zip(saved.tokenizer.state_dict().values(),
                                                 more.tokenizer.state_dict().values(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(saved.generator.state_dict().values(),
                                                     more.generator.state_dict().values(), strict=True))
    assert facts["steps"] == first["steps"] == 2 and facts["generator"] == first["generator"]  # the saved card's
    assert facts["generator_restart"]["steps"] == 3
    card = (tmp_path / "more" / "README.md").read_text()
    assert "three more steps" in card and "generator, warm restart: 3 more steps" in card
    with pytest.raises(ValueError, match="needs a warm start"):
        train_recipe(recipe, tmp_path / "none", config=tiny.replace(steps=0), device="cpu")
