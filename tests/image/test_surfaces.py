"""The image surfaces on a saved tiny random pipeline: `gfx image generate`, the `generate-image` job kind and
`gfx eval image` (their numbers mean nothing on random weights; their plumbing and report shape do)."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gfx.cli import app
from gfx.jobs import JOB_KINDS
from gfx.jobs.spec import parse_job


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, shapes_pipe):
    directory = tmp_path_factory.mktemp("shapes-tiny")
    shapes_pipe.save_pretrained(directory)
    return directory


def test_save_half_stores_float16_and_loads_float32_close_to_the_original(shapes_pipe, tmp_path):
    import torch
    from safetensors.torch import load_file

    from gfx.image.pipeline import ShapesDiffusionPipeline

    shapes_pipe.save_half(tmp_path)
    assert shapes_pipe.unet.dtype == shapes_pipe.text_encoder.dtype == torch.float32
    for part in ("unet", "text_encoder"):
        (weights,) = (tmp_path / part).glob("*.safetensors")
        assert {t.dtype for t in load_file(weights).values()} == {torch.float16}
    loaded = ShapesDiffusionPipeline.from_pretrained(tmp_path, local_files_only=True)
    assert loaded.unet.dtype == loaded.text_encoder.dtype == torch.float32
    a = np.asarray(shapes_pipe("a red circle", seed=0, steps=4)[0].image, np.int16)
    b = np.asarray(loaded("a red circle", seed=0, steps=4)[0].image, np.int16)
    assert np.abs(a - b).max() <= 4


def test_cli_writes_one_png_per_image_and_a_set(model_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["image", "generate", "a large red circle", "-n", "2", "--seed", "1", "--steps", "2",
                                 "--tome", "--model", str(model_dir), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    paths = result.stdout.split()
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["a-large-red-circle-0.png", "a-large-red-circle-1.png"]
    assert np.asarray(Image.open(paths[0])).shape == (64, 64, 3)
    result = runner.invoke(app, ["image", "generate", "a large {} heart", "--vary", "red", "--vary", "blue",
                                 "--steps", "2", "--model", str(model_dir), "-o", str(tmp_path / "set")])
    assert result.exit_code == 0 and len(result.stdout.split()) == 2
    result = runner.invoke(app, ["image", "generate", "a heart", "--set", "3", "-n", "2", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "-n makes independent samples" in result.output
    result = runner.invoke(app, ["image", "generate", "a large {} heart", "--vary", "red", "--vary", "blue",
                                 "--same-noise", "--steps", "2", "--model", str(model_dir), "-o", str(tmp_path / "n")])
    assert result.exit_code == 0 and len(result.stdout.split()) == 2
    result = runner.invoke(app, ["image", "generate", "a heart", "--set", "2", "--same-noise", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "--same-noise needs --vary" in result.output


def test_generate_image_job_matches_the_api(model_dir):
    import gfx.image

    line = {"kind": "generate-image", "prompt": "a small blue star", "n": 2, "seed": 4, "steps": 2,
            "model": str(model_dir)}
    job = parse_job(json.dumps(line), 1, model_dir)
    files = JOB_KINDS["generate-image"].handler(job.params, {})
    assert sorted(files) == ["-0.png", "-1.png"]
    [second] = gfx.image.generate("a small blue star", n=1, seed=5, steps=2, model=str(model_dir))
    image = np.asarray(Image.open(io.BytesIO(files["-1.png"])), np.int16)
    assert np.abs(image - second.image).max() <= 1  # image i starts from the noise of seed + i (batch rounding)
    line.update(n=1, set=["", "on a dark background"], tome=True)
    assert sorted(JOB_KINDS["generate-image"].handler(parse_job(json.dumps(line), 1, model_dir).params, {})) == [
        "-0.png", "-1.png"]


def test_eval_image_reports_every_section(model_dir):
    from gfx.recipes import get_evaluation

    report = get_evaluation("image")(split="val", limit=1, model=str(model_dir), seeds=2, steps=2)
    assert set(report["detectors"]) >= {"shape", "color", "count", "style"}
    assert set(report["quality_gate"]) == {"single_object", "two_objects", "targets", "passed"}
    for section in report["tome"].values():
        assert len(section["with"]["per_seed"]) == 2 and section["prompts"] == 1
    for family in ("stated", "open colour"):
        assert set(report["t2is"][family]) == {"independent", "shared"}
        assert 0 <= report["t2is"][family]["shared"]["consistency"] <= 1


def test_eval_image_ablation_reports_every_variant(model_dir):
    from gfx.recipes import get_evaluation
    from gfx.recipes.image_ablation import SET_MODES, TOME_PARTS

    report = get_evaluation("image-ablation")(split="val", limit=1, model=str(model_dir), seeds=2, steps=2)
    assert set(report["tome"]) == {"prompts", "plain", *TOME_PARTS}
    assert all(len(report["tome"][name]["per_seed"]) == 2 and "rise" in report["tome"][name] for name in TOME_PARTS)
    for family in ("stated", "open colour"):
        assert set(report["t2is"][family]) == set(SET_MODES)


def test_same_noise_starts_every_image_of_a_set_alike(model_dir):
    from gfx.image.denoise import text_to_image
    from gfx.image.pipeline import load_pipeline
    from gfx.image.t2is import SameNoise, generate_set

    pipe = load_pipeline(model_dir)
    images = text_to_image(pipe, ["a large red heart"] * 2, seed=4, steps=2, controls=[SameNoise()])
    assert torch.allclose(images[0], images[1], atol=1e-5)  # the same prompt from the same noise: one picture
    results = generate_set(pipe, "a large {} heart", ["red", "blue"], seed=4, steps=2, shared_steps=0,
                           same_noise=True)
    assert [r.seed for r in results] == [4, 4]
    with pytest.raises(ValueError, match="same_noise needs a different prompt"):
        generate_set(pipe, "a large red heart", ["", ""], seed=4, steps=2, shared_steps=0, same_noise=True)


def test_eval_scores_read_world_renders_right():
    from gfx.data.shapes2d.detect import detect
    from gfx.data.shapes2d.raster import render
    from gfx.data.shapes2d.world import Scene, Shape2D
    from gfx.recipes.image_eval import has_objects, set_scores

    def picture(shape, color, cell=(1, 1)):
        return detect(render(Scene((Shape2D(shape, color, "large", cell),), style="striped")))

    two = detect(render(Scene((Shape2D("circle", "red", "large", (1, 0)), Shape2D("star", "blue", "large", (1, 2))))))
    assert has_objects(two, [("circle", "red"), ("star", "blue")]) and has_objects(two, [("star", None)])
    assert not has_objects(two, [("circle", "blue"), ("star", "red")])  # swapped attributes do not bind
    assert not has_objects(two, [("circle", None), ("circle", None)])  # one object answers one request
    shapes = ["circle", "heart", "triangle"]
    same = [picture(s, "green") for s in shapes]
    assert set_scores(same, shapes, "green") == (1.0, 1.0)
    mixed = [picture("circle", "green"), picture("heart", "red"), picture("star", "green")]
    consistency, alignment = set_scores(mixed, shapes, None)
    assert consistency == pytest.approx(1 / 3) and alignment == pytest.approx(2 / 3)
