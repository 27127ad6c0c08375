"""Every `gfx train` recipe runs end to end at toy size: trains, resumes, saves a loadable model and its card.

The shipped models were trained with these same functions at full size (see each model card's recipe line).
"""

import json

import pytest
import torch

import gfx.recipes.fullpart
import gfx.recipes.iconshop
import gfx.recipes.starvector
import gfx.recipes.vat
from gfx.recipes import get_recipe


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    """Training state goes to a temporary RUNS_DIR, never to the repository's .cache/train."""
    for module in (gfx.recipes.iconshop, gfx.recipes.starvector, gfx.recipes.fullpart, gfx.recipes.vat):
        monkeypatch.setattr(module, "RUNS_DIR", tmp_path / "runs")
    torch.set_num_threads(1)


def assert_card(out_dir, steps):
    card = json.loads((out_dir / "metrics.json").read_text())
    readme = (out_dir / "README.md").read_text()
    assert card["steps"] == steps and card["device"] == "cpu"
    assert readme.startswith(f"# {out_dir.name}\n")
    return card


@pytest.mark.slow
def test_iconshop_recipe_trains_resumes_and_ships_a_generator(tmp_path):
    from gfx.svg.iconshop import IconShop

    out = tmp_path / "iconshop-toy"
    train = get_recipe("iconshop")
    train(out, preset="tiny", steps=3, batch_size=4, device="cpu")
    card = train(out, preset="tiny", steps=5, batch_size=4, device="cpu", prefetch=2)  # resumes at step 3
    assert_card(out, 5)
    assert card["val_loss"] is not None and card["parameters"] > 0
    [icon] = IconShop.from_pretrained(out)("star", n=1, seed=0)
    assert icon.svg.startswith("<svg")


@pytest.mark.slow
def test_starvector_recipe_ships_a_vectorizer(tmp_path):
    from gfx.svg.starvector import StarVector

    out = tmp_path / "starvector-toy"
    get_recipe("starvector")(out, preset="tiny", steps=2, batch_size=2, device="cpu")
    assert_card(out, 2)
    assert StarVector.from_pretrained(out).config.image_size == 32  # the tiny preset


@pytest.mark.slow
def test_vat_recipe_ships_tokenizer_and_generator(tmp_path):
    out = tmp_path / "vat-toy"
    card = get_recipe("vat")(out, preset="tiny", steps=2, generator_steps=2, batch_size=2, n_queries=256,
                             n_per_category=8, eval_limit=0, device="cpu")
    assert_card(out, 2)
    assert card["generator"]["steps"] == 2
    assert (out / "generator" / "config.json").is_file()


@pytest.mark.slow
def test_fullpart_recipe_ships_all_components(tmp_path):
    out = tmp_path / "fullpart-toy"
    card = get_recipe("fullpart")(out, preset="tiny", layout_steps=2, part_steps=2, shared_steps=2, batch_size=2,
                                  layout_batch_size=4, n_per_category=8, eval_limit=0, device="cpu")
    assert (out / "README.md").is_file() and json.loads((out / "metrics.json").read_text()) == json.loads(
        json.dumps(card, default=str))
    assert all(c["steps"] == 2 for c in card["components"].values())
