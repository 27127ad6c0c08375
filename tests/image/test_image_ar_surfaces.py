"""The image surfaces with the autoregressive models (tiny random Hita and xAR): named models in
`gfx.image.generate`, `gfx image generate --model DIR`, the generate-image job kind and `gfx eval image-ar`."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from gfx.cli import app
from gfx.image.hita import HitaPipeline, HitaTokenizer, HitaTokenizerConfig
from gfx.image.world_features import WorldFeatureNet, WorldFeaturesConfig
from gfx.image.xar import XAR, XARConfig, XARPipeline


@pytest.fixture(scope="module")
def ar_dirs(tmp_path_factory):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("ar")
    tokenizer = HitaTokenizer(HitaTokenizerConfig.from_name("tiny", image_size=64, channels=(8, 8, 8, 8)))
    HitaPipeline(tokenizer, HitaPipeline.new_generator(tokenizer.config, "tiny")).save_pretrained(root / "hita")
    XARPipeline(XAR(XARConfig.from_name("tiny", image_size=64, unshuffle=16))).save_pretrained(root / "xar")
    return root


def test_named_models_resolve_in_models_dir_or_say_how_to_train_them(monkeypatch, tmp_path, ar_dirs):
    import gfx.image
    from gfx.image.pipeline import load_default

    monkeypatch.setattr("gfx.models.MODELS_DIR", tmp_path)
    load_default.cache_clear()
    with pytest.raises(FileNotFoundError, match="train it with `gfx train xar`"):
        gfx.image.generate("a red circle", model="xar-mini")
    (tmp_path / "hita-mini").symlink_to(ar_dirs / "hita")
    [result] = gfx.image.generate("a red circle", seed=0, model="hita-mini")
    assert result.image.shape == (64, 64, 3) and result.info["model"] == "HitaPipeline"
    load_default.cache_clear()


def test_cli_and_job_kind_take_an_ar_model_directory(ar_dirs, tmp_path):
    from gfx.jobs import JOB_KINDS
    from gfx.jobs.spec import parse_job

    result = CliRunner().invoke(app, ["image", "generate", "a small blue star", "-n", "2", "--seed", "1", "--steps",
                                      "2", "--model", str(ar_dirs / "xar"), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split()) == 2
    result = CliRunner().invoke(app, ["image", "generate", "a small blue star", "--seed", "1", "--steps", "2",
                                      "--model", str(ar_dirs / "xar"), "-o", str(tmp_path / "star.png")])
    assert result.exit_code == 0 and result.stdout.split() == [str(tmp_path / "star.png")], result.output
    result = CliRunner().invoke(app, ["image", "generate", "a star", "--tome", "--model", str(ar_dirs / "hita")])
    assert result.exit_code == 2 and "takes no controls" in result.output
    line = {"kind": "generate-image", "prompt": "a small blue star", "n": 1, "seed": 4, "model": str(ar_dirs / "hita")}
    files = JOB_KINDS["generate-image"].handler(parse_job(json.dumps(line), 1, tmp_path).params, {})
    assert sorted(files) == ["-0.png"]


def test_eval_image_ar_reports_every_model_and_the_comparisons(ar_dirs, shapes_pipe):
    from gfx.recipes import get_evaluation

    torch.manual_seed(0)
    features = WorldFeatureNet(WorldFeaturesConfig.from_name("tiny")).eval()
    models = {"hita": str(ar_dirs / "hita"), "hita, no holistic tokens": str(ar_dirs / "hita"),
              "xar": str(ar_dirs / "xar"), "diffusion": shapes_pipe}
    report = get_evaluation("image-ar")(split="val", limit=2, models=models, features=features, seeds=2)
    assert "world-features" in report["feature_extractor"]
    for entry in report["models"].values():
        assert entry["fid"] >= 0 and len(entry["per_seed"]) == 2 and 0 <= entry["accuracy"] <= 1
        assert len(entry["fid_per_seed"]) == 2 and entry["fid_seed_std"] == round(float(np.std(entry["fid_per_seed"])), 3)
    tokenizer = report["models"]["hita"]["tokenizer"]
    assert set(tokenizer) == {"mse", "rfid", "holistic_usage", "patch_usage"} and 0 < tokenizer["patch_usage"] <= 1
    same = report["comparisons"]["holistic tokens"]  # the same model twice
    assert same["accuracy_rise"] == 0 and same["fid_drop"] == 0 and same["fid_drop_seed_std"] == 0
    assert not same["beyond_spread"] and not same["fid_beyond_spread"]
    assert set(report["comparisons"]) == {"holistic tokens"}  # the xAR ablations are absent
    assert "tokenizer" not in report["models"]["diffusion"]  # a text tokenizer has no reconstruction


ABLATIONS = {"hita, no holistic tokens": {"holistic": False}, "xar, token entities": {"entity": "token"},
             "xar, clean teacher forcing": {"ncl": False}}
"""What each ablation of `gfx.recipes.image_ar_eval.MODELS` changes in its recipe's config."""


@pytest.mark.parametrize("label", ABLATIONS)
def test_each_ablation_command_names_a_committed_config_that_changes_only_its_field(label):
    import shlex

    from gfx.paths import checkout_root
    from gfx.recipes import get_recipe
    from gfx.recipes.image_ar_eval import MODELS

    name, command = MODELS[label]
    words = shlex.split(command)
    assert words[:2] == ["gfx", "train"] and words[words.index("--out") + 1] == f"models/{name}"
    config_class = get_recipe(words[2]).config_class
    config = config_class.from_json(checkout_root() / words[words.index("--config") + 1])
    assert config == config_class().replace(**ABLATIONS[label])  # the main model's schedule, one field changed
    assert all(getattr(config_class(), k) != v for k, v in ABLATIONS[label].items())


def test_every_model_command_with_a_config_is_an_ablation():
    from gfx.recipes.image_ar_eval import MODELS

    assert {label for label, (_, command) in MODELS.items() if "--config" in command} == set(ABLATIONS)
