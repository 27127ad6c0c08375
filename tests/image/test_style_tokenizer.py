"""StyleTokenizer on tiny random pipelines loaded with `from_pretrained`: the contrastive loss learns, style words
enter at their placeholders (injected while training == installed at inference), the control, the save round
trip, and the recipes / CLI / job / evaluation plumbing of CoRe and StyleTokenizer (numbers mean nothing here)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import gfx.recipes.run
from gfx.cli import app
from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import Scene, Shape2D
from gfx.image.denoise import encode_prompts, text_to_image, token_ids
from gfx.image.pipeline import load_pipeline
from gfx.image.style_tokenizer import (
    EncoderTraining,
    Style,
    StyleTokenizer,
    StyleTokenizerConfig,
    StyleTokenTraining,
    styled_prompt,
    supervised_contrastive_loss,
)
from gfx.image.token_injection import inject_rows
from gfx.recipes.style_tokenizer import StyleBatches

PROMPT = "a large red circle"


def tiny_tokenizer(width: int) -> StyleTokenizer:
    torch.manual_seed(0)
    return StyleTokenizer(StyleTokenizerConfig.from_name("tiny", token_dim=width, n_tokens=2))


def reference(style="striped"):
    return render(Scene((Shape2D("star", "blue", "large", (0, 0)), Shape2D("heart", "green", "large", (2, 2))),
                        style=style))


def test_the_contrastive_loss_falls_on_a_tiny_batch():
    model = tiny_tokenizer(16)
    batch = StyleBatches(8, 32).batch(np.random.default_rng(0))
    assert len(set(batch["styles"].tolist())) > 1
    training = EncoderTraining(model)
    optimizer = torch.optim.Adam([p for p in training.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(15):
        loss = training.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    z = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    same = supervised_contrastive_loss(torch.cat([z[:1], z[:1]]), torch.tensor([0, 0]))
    assert same.item() == pytest.approx(0.0, abs=1e-6)  # the only other row is the positive
    with pytest.raises(ValueError, match="positives"):
        supervised_contrastive_loss(z, torch.arange(4))


@pytest.mark.parametrize("kind", ["sd", "shapes"])
def test_style_words_are_injected_at_their_placeholders_and_trained_through_the_frozen_unet(saved, kind):
    pipe = load_pipeline(saved[kind])
    width = pipe.text_encoder.get_input_embeddings().weight.shape[1]
    model = tiny_tokenizer(width)
    training = StyleTokenTraining(pipe, model)
    assert {n for n, p in training.named_parameters() if p.requires_grad} == {
        "model.mlp.0.weight", "model.mlp.0.bias", "model.mlp.2.weight", "model.mlp.2.bias"}
    size = 32 if kind == "sd" else 64
    batch = StyleBatches(2, size, 32, pipe.tokenizer, model.config).batch(np.random.default_rng(1))
    assert (batch["input_ids"][:, 1:3] == torch.tensor(training.ids)).all()
    loss = training.loss(batch)
    loss.backward()
    assert model.mlp[2].weight.grad.abs().sum() > 0 and model.encoder.out.weight.grad is None
    # injecting row b's words == installing them as the placeholders' rows of the table (what Style does)
    words = model.tokens(batch["reference"]).detach()
    with torch.no_grad(), inject_rows(pipe.text_encoder, training.ids, words):
        injected = pipe.text_encoder(batch["input_ids"])[0]
    control = Style(model, reference())
    control.words = words[1]
    control.prepare(pipe)
    installed = pipe.text_encoder(batch["input_ids"][1:])[0]
    assert torch.allclose(injected[1], installed[0], atol=1e-6)
    with pytest.raises(ValueError, match="rows of vectors"), inject_rows(pipe.text_encoder, training.ids, words):
        pipe.text_encoder(batch["input_ids"][:1])


def test_the_style_control_on_a_stable_diffusion_pipeline_and_its_saved_model(saved, tmp_path):
    pipe = load_pipeline(saved["sd"])
    model = tiny_tokenizer(32)
    model.save_pretrained(tmp_path / "style")
    control = Style(tmp_path / "style", reference())
    assert control.rewrite_prompt(PROMPT) == "<style0> <style1> a large red circle" == styled_prompt(model.config,
                                                                                                    PROMPT)
    styled = text_to_image(pipe, [PROMPT], seed=0, steps=2, controls=[control])
    assert torch.equal(styled, text_to_image(pipe, [control.rewrite_prompt(PROMPT)], seed=0, steps=2))
    assert not torch.equal(styled, text_to_image(pipe, [PROMPT], seed=0, steps=2))
    other = Style(tmp_path / "style", reference("dotted"))
    assert not torch.equal(encode_prompts(pipe, [PROMPT]), encode_prompts(pipe, [control.rewrite_prompt(PROMPT)]))
    assert not torch.equal(control.words, other.words)
    with pytest.raises(ValueError, match="reads 16-d"):
        Style(model, reference()).prepare(load_pipeline(saved["shapes"]))
    with pytest.raises(FileNotFoundError, match="no style tokenizer"):
        Style(tmp_path, reference())
    with pytest.raises(ValueError, match="cannot read image"):
        Style(model, str(tmp_path / "missing.png"))
    assert token_ids(pipe.tokenizer, [control.rewrite_prompt(PROMPT)])[0, 1].item() == len(pipe.tokenizer) - 2


def test_recipes_cli_jobs_and_evaluation_on_a_saved_pipeline(saved, tmp_path, monkeypatch):
    from gfx.image.core import LearnedConcept
    from gfx.jobs import JOB_KINDS
    from gfx.jobs.spec import parse_job
    from gfx.recipes import get_evaluation, get_recipe
    from gfx.recipes.run import train_recipe

    monkeypatch.setattr(gfx.recipes.run, "RUNS_DIR", tmp_path / "runs")
    base = str(saved["shapes"])
    dirs = {}
    for name in ("core-concept", "textual-inversion", "style-tokenizer"):
        recipe = get_recipe(name)
        with pytest.raises(ValueError, match="--init-from"):
            train_recipe(recipe, tmp_path / "none", config=recipe.config_class.from_name("tiny"), device="cpu")
        dirs[name] = tmp_path / name
        facts = train_recipe(recipe, dirs[name], config=recipe.config_class.from_name("tiny"), device="cpu",
                             init_from=base)
        assert facts["steps"] == 2 and (dirs[name] / "README.md").is_file()
    assert LearnedConcept.load(dirs["core-concept"]).config.method == "core"
    assert LearnedConcept.load(dirs["textual-inversion"]).config.method == "textual-inversion"
    assert {p.name for p in dirs["style-tokenizer"].iterdir()} == {"config.json", "model.safetensors", "train.json",
                                                                    "metrics.json", "README.md"}
    ref = tmp_path / "ref.png"
    from PIL import Image

    Image.fromarray(reference()).save(ref)
    runner = CliRunner()
    result = runner.invoke(app, ["image", "generate", "a <cross> above a blue circle", "--steps", "2", "--model", base,
                                 "--concept", str(dirs["core-concept"]), "--style", str(ref), "--style-model",
                                 str(dirs["style-tokenizer"]), "-o", str(tmp_path / "img")])
    assert result.exit_code == 0, result.output
    images = [str(ref), str(tmp_path / "img" / "a-cross-above-a-blue-circle-0.png")]
    result = runner.invoke(app, ["image", "learn-concept", *images, "--token", "<blob>", "--steps", "2", "--model",
                                 base, "--method", "textual-inversion", "-o", str(tmp_path / "blob")])
    assert result.exit_code == 0, result.output
    learned = LearnedConcept.load(tmp_path / "blob").config
    assert learned.token == "<blob>" and learned.unet_window == (0.1, 1.0)  # the shipped concept's window
    for image, token, message, extra in ((tmp_path / "no.png", "<b>", "cannot read image", []),
                                         (ref, "<|endoftext|>", "already has", []),
                                         (ref, "blob", "angle brackets", []),
                                         (ref, "<b>", "needs 0 <= start < end <= 1", ["--unet-window", "0.5", "0.2"])):
        result = runner.invoke(app, ["image", "learn-concept", str(image), "--token", token, "--steps", "1",
                                     "--model", base, "-o", str(tmp_path / "x"), *extra])
        assert result.exit_code == 2 and message in result.output, result.output
    line = {"kind": "generate-image", "prompt": "a <cross>", "steps": 2, "model": base, "output": "job",
            "concept": str(dirs["core-concept"]), "style": "ref.png", "style_model": str(dirs["style-tokenizer"])}
    job = parse_job(json.dumps(line), 1, tmp_path)
    assert list(JOB_KINDS["generate-image"].handler(job.params, {"style": ref.read_bytes()})) == ["-0.png"]
    with pytest.raises(ValueError, match="no concept.json"):
        parse_job(json.dumps({**line, "concept": str(tmp_path)}), 1, tmp_path)

    report = get_evaluation("image-controls")(split="val", limit=1, model=base, concept=str(dirs["core-concept"]),
                                              baseline_concept=str(dirs["textual-inversion"]),
                                              style_model=str(dirs["style-tokenizer"]), seeds=2, steps=2)
    assert "geom_erasing" not in report
    assert set(report["concept"]["methods"]) == {"core", "textual-inversion"} and report["concept"]["prompts"] == 1
    assert len(report["concept"]["methods"]["core"]["identity"]["per_seed"]) == 2
    from gfx.recipes.image_controls import concept_labels

    twice = concept_labels([dirs["textual-inversion"], tmp_path / "blob"])  # a retrained one beside the baseline
    assert twice == {"textual-inversion": dirs["textual-inversion"], "textual-inversion (blob)": tmp_path / "blob"}
    assert concept_labels([dirs["textual-inversion"], dirs["textual-inversion"]]) == {  # itself as its baseline
        "textual-inversion": dirs["textual-inversion"]}
    assert set(report["style"]["conditions"]) == {"style tokens", "style in words", "no style"}
    for name in ("core-concept", "style-tokenizer"):
        recipe = get_recipe(name)
        card = recipe.card(name, {**json.loads((dirs[name] / "metrics.json").read_text()), "eval": report})
        assert len(card.metrics) == 1
