"""Procedural captioned layouts: every generated layout honours its caption (the checker), the checker rejects
violations, captions parse back to their groups, and the splits hold out concept combinations."""

import numpy as np
import pytest

from gfx.data.scene_layouts import Group, check_layout, combo_split, generate_layouts, relation_holds, snap
from gfx.svg.scene_text import ScenePromptError, parse_scene


@pytest.fixture(scope="module")
def records():
    return generate_layouts(200, "train", seed=3)


def test_generated_layouts_satisfy_their_captions_and_parse_back(records):
    relations = set()
    for r in records:
        assert all(check_layout(r.groups, r.relations, r.boxes).values()), r.caption
        assert parse_scene(r.caption).groups == r.groups, r.caption
        assert np.array_equal(r.boxes, np.array([snap(b) for b in r.boxes]))  # on the lattice
        relations |= {rel for _, rel, _ in r.relations}
    assert relations == {"left of", "right of", "above", "below", "inside", "next to"}
    again = generate_layouts(5, "train", seed=3)[0]  # reproducible
    assert again.caption == records[0].caption and np.array_equal(again.boxes, records[0].boxes)


def test_the_checker_catches_each_kind_of_violation():
    groups = (Group("tree", 2), Group("house", 1, "large"))
    relations = ((0, "left of", 1),)
    good = np.array([[0.0, 0.5, 0.1, 0.7], [0.15, 0.5, 0.25, 0.7], [0.4, 0.3, 0.9, 0.8]])
    assert check_layout(groups, relations, good) == {"counts": True, "relations": True, "sizes": True}
    right = good.copy()
    right[1] = [0.92, 0.5, 1.0, 0.7]  # one tree right of the house
    assert check_layout(groups, relations, right)["relations"] is False
    same = good.copy()
    same[1] = same[0]  # two trees in one place count as one
    assert check_layout(groups, relations, same)["counts"] is False
    assert check_layout(groups, relations, good[:2])["counts"] is False
    small = good.copy()
    small[2] = [0.4, 0.3, 0.6, 0.5]
    assert check_layout(groups, relations, small)["sizes"] is False
    assert relation_holds("inside", [0.5, 0.5, 0.6, 0.6], [0.4, 0.4, 0.9, 0.9])
    assert not relation_holds("next to", [0.0, 0.0, 0.1, 0.1], [0.6, 0.0, 0.7, 0.1])
    with pytest.raises(ValueError, match="relation 'behind' is unknown"):
        relation_holds("behind", [0, 0, 1, 1], [0, 0, 1, 1])


def test_splits_hold_out_concept_combinations():
    test = generate_layouts(30, "test", seed=0)
    train = generate_layouts(60, "train", seed=0)
    combos = lambda rs: {frozenset(g.concept for g in r.groups) for r in rs}  # noqa: E731
    assert not combos(test) & combos(train)
    assert all(combo_split([g.concept for g in r.groups]) == "test" for r in test)


def test_prompts_parse_counts_sizes_and_back_references():
    prompt = parse_scene("Two small trees left of a house, and a sun above the house; 3 birds")
    assert prompt.groups == (Group("tree", 2, "small"), Group("house"), Group("sun"), Group("bird", 3))
    assert prompt.words[:4] == ("two", "small", "tree", "<o0>")
    assert prompt.words.count("<o1>") == 2  # "the house" refers back
    with pytest.raises(ScenePromptError, match="names no object the scene model knows"):
        parse_scene("a purple dragon")
    with pytest.raises(ScenePromptError, match="asks for 40 objects; the limit is 8"):
        parse_scene("twenty trees and twenty houses".replace("twenty", "20"))
    with pytest.raises(ScenePromptError, match="words; the limit is 64"):
        parse_scene("tree " * 5000)
