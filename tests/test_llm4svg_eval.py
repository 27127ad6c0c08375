"""`gfx eval llm4svg`'s describe and edit parts on a tiny random causal LM: chance levels, valid edits, and a model
that always prefers an icon's own description scores 1.0 (the retrieval is wired the right way round)."""

import numpy as np
import pytest

from gfx.data.icons import load_icons
from gfx.recipes.llm4svg_data import describe_answer
from gfx.recipes.llm4svg_eval import describe_accuracy, edit_scores, fitting
from tests.conftest import save_tiny_causal_lm

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from gfx.svg.llm4svg import LLM4SVG

    directory = tmp_path_factory.mktemp("lm")
    save_tiny_causal_lm(directory, ["Describe this SVG:\nAnswer: Arrows: arrow up.", "Edit this SVG: make it red"])
    return LLM4SVG.from_pretrained(directory)


@pytest.fixture(scope="module")
def records(pipe):
    return fitting(pipe, load_icons(split="test"), 6)


class _Evaluator:
    """IconCLIP's interface with fixed random embeddings."""

    def encode_images(self, svgs):
        return np.random.default_rng(0).normal(size=(len(svgs), 8))

    def encode_texts(self, texts):
        return np.random.default_rng(1).normal(size=(len(texts), 8))


def test_describe_accuracy_has_chance_levels_and_rewards_the_own_description(pipe, records, monkeypatch):
    report = describe_accuracy(pipe, records, _Evaluator())
    assert report["icons"] == 6 and report["chance"]["name_top1"] == pytest.approx(1 / report["names"])
    assert 0 <= report["llm4svg"]["name_top1"] <= report["llm4svg"]["name_top5"] <= 1
    answers = {r.svg: f" {describe_answer(r)}." for r in records}
    categories = {r.svg: f" {r.category}:" for r in records}

    def oracle(svg, texts):  # the icon's own answer and category score highest
        return np.array([1.0 if t in (answers[svg], categories[svg]) else 0.0 for t in texts])

    monkeypatch.setattr(pipe, "continuation_scores", oracle)
    perfect = describe_accuracy(pipe, records, _Evaluator())["llm4svg"]
    assert perfect["name_top1"] == 1.0
    assert perfect["category_top1"] == 1.0 or not any(r.category for r in records)


def test_edits_of_a_random_model_are_valid(pipe, records):
    report = edit_scores(pipe, records[:3])
    assert report["icons"] >= 1 and report["validity"] == 1.0 and report["valid"] == report["icons"]
    assert 0 <= report["exact_match"] <= 1 and report["mse_unedited"] > 0
