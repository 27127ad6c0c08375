"""The SVGCraft layout model: every decoded layout is valid under the prompt's grammar (random weights too, and
a tiny random transformers causal LM), the grammar refuses invalid boxes, a save/load round trip keeps the
layouts, and prompts without known objects fail with a short message."""

import numpy as np
import pytest
import torch

from gfx.svg.scene_text import ScenePromptError, parse_scene
from gfx.svg.svgcraft import EOS_ID, SVGCraftLayout, SVGCraftLayoutConfig
from tests.conftest import save_tiny_causal_lm

PROMPTS = ["two small trees left of a house and a sun above the house", "three birds", "a cat inside a large box",
           "a car next to a bus and two clouds over the bus", "6 stars"]


def assert_valid(layout, prompt: str) -> None:
    groups = parse_scene(prompt).groups
    owners = [g for g, group in enumerate(groups) for _ in range(group.count)]
    boxes = layout.boxes
    assert boxes.shape == (len(owners), 4)
    assert np.all(boxes >= 0) and np.all(boxes <= 1) and np.all(boxes[:, 2:] - boxes[:, :2] >= 2 / 32 - 1e-9)
    assert layout.owners == owners and layout.tokens[-1] == EOS_ID
    assert [phrase for phrase, _ in layout.objects] == [(f"{groups[g].size} " if groups[g].size else "")
                                                         + groups[g].concept for g in owners]


@pytest.fixture(scope="module")
def pipe(tiny_layout_dir):
    torch.set_num_threads(1)
    return SVGCraftLayout.from_pretrained(tiny_layout_dir)


def test_random_weights_still_give_valid_layouts(pipe):
    for prompt in PROMPTS:
        for seed in range(4):
            assert_valid(pipe(prompt, seed=seed, temperature=1.5, top_p=1.0), prompt)


def test_the_grammar_refuses_empty_boxes_and_wrong_objects(pipe):
    tok = pipe.tokenizer
    constraint = pipe.grammar(parse_scene("two trees").groups).constraint()
    o0, o1, c = tok.first_slot, tok.first_slot + 1, lambda v: tok.first_coord + v  # noqa: E731
    assert not constraint.accepts(o1) and not constraint.accepts(EOS_ID)
    assert constraint.advance(o0) and constraint.advance(c(5))
    assert not any(constraint.accepts(c(v)) for v in (3, 5, 6))  # x1 must be x0 + 2 or more
    assert constraint.advance(c(7)) and not constraint.accepts(c(31)) and constraint.advance(c(30))
    assert constraint.advance(c(32))
    assert not constraint.accepts(EOS_ID)  # the second tree is still missing
    for t in (o0, c(0), c(2), c(0), c(32)):
        assert constraint.advance(t)
    assert constraint.accepts(EOS_ID) and not constraint.accepts(o0)


def test_save_load_round_trip_keeps_the_layouts(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "copy", dtype=None)
    again = SVGCraftLayout.from_pretrained(tmp_path / "copy")
    assert again(PROMPTS[0], seed=1).tokens == pipe(PROMPTS[0], seed=1).tokens
    assert again.config == pipe.config


def test_a_prompt_without_known_objects_fails_clearly(pipe):
    with pytest.raises(ScenePromptError, match="names no object the scene model knows"):
        pipe("a purple dragon over a castle", seed=0)


def test_a_tiny_random_causal_lm_is_driven_by_the_same_grammar(tmp_path):
    text_vocab = save_tiny_causal_lm(tmp_path / "lm", [f"Scene: {p}\nLayout:" for p in PROMPTS])
    lm_pipe = SVGCraftLayout.from_causal_lm(tmp_path / "lm", SVGCraftLayoutConfig(temperature=1.0, top_p=1.0))
    assert min(lm_pipe.token_ids) >= text_vocab  # the layout tokens were added to its vocabulary
    for prompt in PROMPTS[:3]:
        for seed in range(3):
            layout = lm_pipe(prompt, seed=seed)
            assert_valid(layout, prompt)
            assert layout.info["model"] == "CausalLM"
