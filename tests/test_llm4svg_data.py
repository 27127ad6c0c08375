"""LLM4SVG instruction data: deterministic (and the cache gives back what was built), only train-split icons outside
the held-out concepts, the edits do what they say, and the test split is refused."""

import numpy as np
import pytest

import gfx.recipes.llm4svg_data as data
from gfx.data.icons import load_icons
from gfx.recipes.icon_protocols import held_out_concepts, training_records
from gfx.recipes.llm4svg_data import apply_edit, describe_answer, instructions
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.tokenizers.semantic import SemanticTokenizer


@pytest.fixture(scope="module")
def records():
    return load_icons()


def test_instructions_are_deterministic_and_cached(records, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path)
    train = training_records(records)[:40]
    first = instructions(train, SemanticTokenizer())
    assert len(list(tmp_path.iterdir())) == 1
    assert instructions(train, SemanticTokenizer()) == first  # from the cache
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "again")
    assert instructions(train, SemanticTokenizer()) == first  # built again
    assert {i.task for i in first} == {"describe", "draw", "edit"}
    by_id = {r.id: r for r in train}
    for item in first:
        if item.task == "describe":
            assert item.answer == describe_answer(by_id[item.icon]) and item.svg and not item.target
        else:
            assert item.target and SemanticTokenizer().is_valid(item.target)


def test_split_hygiene_no_test_or_held_out_icon_is_trained_on(records):
    from gfx.recipes.llm4svg import LLM4SVGRecipe, instruction_data

    train, val = instruction_data(LLM4SVGRecipe.from_name("tiny", train_icons=200, val_icons=30))
    split = {r.id: r.split for r in records}
    assert {split[i.icon] for i in train} == {"train"} and {split[i.icon] for i in val} == {"val"}
    names = {r.id: r.name for r in records}
    assert not {names[i.icon] for i in train} & set(held_out_concepts(records))
    test_svgs = {tuple(SemanticTokenizer().encode(normalize(parse_svg(r.svg), to_paths=False)))
                 for r in records if r.split == "test"}
    assert not test_svgs & {i.target for i in train if i.task == "draw"}
    with pytest.raises(ValueError, match="test split is for evaluation"):
        instructions(records[:5], SemanticTokenizer(), split="test")


def test_edits_do_what_they_say(stroke_icon):
    doc = normalize(parse_svg(stroke_icon), to_paths=False)
    mirrored = apply_edit("mirror it horizontally", doc)
    assert apply_edit("mirror it horizontally", mirrored).isclose(doc, atol=1e-9)
    before = np.concatenate([e.points for e in doc.paths])
    after = np.concatenate([e.points for e in mirrored.paths])
    assert sorted(before[:, 0].round(6)) == sorted((24 - after[:, 0]).round(6))
    red = apply_edit("make it red", doc)
    assert {e.style.stroke for e in red.elements} == {"#ff0000"}
    assert len(apply_edit("remove the last shape", doc).elements) == len(doc.elements) - 1
    with pytest.raises(KeyError, match="valid edits: mirror it horizontally"):
        apply_edit("make it pretty", doc)


def test_draw_variants_are_keyword_prompts_of_the_icon_moved_inside_the_view_box(records):
    from gfx.recipes.iconshop_data import keywords_of
    from gfx.svg.core.geometry import bounding_box

    tokenizer = SemanticTokenizer()
    record = training_records(records)[0]
    plain = data.icon_instructions(record, tokenizer)
    varied = data.icon_instructions(record, tokenizer, draw_variants=3)
    extra = [i for i in varied if i not in plain]
    assert len(extra) == 3 and {i.task for i in extra} == {"draw"}
    assert varied == data.icon_instructions(record, tokenizer, draw_variants=3)  # fixed per icon
    keywords = set(keywords_of(record))
    assert all(set(i.text.split(", ")) <= keywords for i in extra)
    box = bounding_box(normalize(parse_svg(record.svg), to_paths=False).elements)
    for item in extra:
        moved = bounding_box(tokenizer.decode(list(item.target)).elements)
        shift = np.subtract(moved, box)
        assert np.allclose(shift[:2], shift[2:], atol=0.05) and np.all(np.abs(shift) <= data.MAX_SHIFT + 0.05)
        assert min(moved) >= -0.05 and max(moved) <= 24.05
    assert any(np.abs(np.subtract(bounding_box(tokenizer.decode(list(i.target)).elements), box)).max() > 0.5
               for i in extra)


def test_shifted_leaves_a_full_width_icon_where_it_is():
    from gfx.svg.core.document import Document

    doc = normalize(parse_svg('<svg viewBox="0 0 24 24"><rect x="0" y="0" width="24" height="24"/></svg>'),
                    to_paths=False)
    assert data.shifted(doc, np.random.default_rng(0)) is doc
    assert data.shifted(Document(doc.view_box, []), np.random.default_rng(0)).elements == []
