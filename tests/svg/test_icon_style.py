"""Drawing styles: the sampling rule keeps new paths outline (stroke width 2, round caps and joins) or filled, on a
tiny randomly initialised IconShop; None samples as before; the outline check behind the evaluation's rate."""

import pytest
import torch

from gfx.svg.icon_style import ANY_STYLE, StyleBans, check_style, is_outline, style_from_name
from gfx.svg.iconshop import IconShop, IconShopConfig
from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig

OUTLINE_HEADER = ["<stroke>", "<w2>", "<cap_round>", "<join_round>"]


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return IconShop.build(IconShopConfig.from_name("tiny"))


def element_headers(pipe, tokens) -> list[list[str]]:
    """The style tokens that open each path element: [paint, width?, cap?, join?, evenodd?]."""
    strings = pipe.tokenizer.token_strings(list(tokens))
    starts = pipe.tokenizer.element_starts(list(tokens))
    headers = []
    for start in starts:
        end = strings.index("M", start)
        headers.append(strings[start:end])
    return headers


def test_outline_samples_are_strokes_of_the_corpus_width(pipe):
    results = pipe("house", n=6, seed=0, style="outline")
    for r in results:
        assert pipe.tokenizer.is_valid(list(r.tokens))
        assert all(h == OUTLINE_HEADER for h in element_headers(pipe, r.tokens))
        assert is_outline(r.svg) and r.info["style"] == "outline"


def test_filled_samples_only_fill(pipe):
    for r in pipe("house", n=6, seed=1, style="filled"):
        assert pipe.tokenizer.is_valid(list(r.tokens))
        assert {h[0] for h in element_headers(pipe, r.tokens)} == {"<fill>"}
        assert not is_outline(r.svg)


def test_no_style_samples_what_the_model_likes(pipe):
    """style=None adds no rule: an untrained model mixes paints and widths (and stays seeded)."""
    results = pipe("house", n=6, seed=2, style=None)
    headers = [h for r in results for h in element_headers(pipe, r.tokens)]
    assert any(h[0] != "<stroke>" for h in headers) and any(h != OUTLINE_HEADER for h in headers)
    assert [r.tokens for r in pipe("house", n=6, seed=2, style=None)] == [r.tokens for r in results]


def test_new_paths_of_an_edit_follow_the_style(pipe, filled_icon, stroke_icon):
    [result] = pipe.complete(filled_icon, "ring", seed=3, style="outline")
    headers = element_headers(pipe, result.tokens)
    assert headers[0][0] == "<fill>"  # the kept path is left as it was
    assert all(h == OUTLINE_HEADER for h in headers[1:])
    [result] = pipe.infill(stroke_icon, 1, 2, "house", seed=4, style="filled")
    assert pipe.tokenizer.is_valid(list(result.tokens))
    headers = element_headers(pipe, result.tokens)  # kept stroke path, the new span, kept stroke circle
    assert headers[0] == headers[-1] == OUTLINE_HEADER
    assert len(headers) > 2 and {h[0] for h in headers[1:-1]} == {"<fill>"}


def test_unknown_styles_are_refused(pipe, filled_icon):
    with pytest.raises(ValueError, match="style 'bold' is unknown; use one of 'outline', 'filled'"):
        pipe("house", style="bold")
    with pytest.raises(ValueError, match="unknown"):
        pipe.edit(filled_icon, keep=[0], style="Outline")
    with pytest.raises(ValueError, match="needs a style"):
        StyleBans(pipe.tokenizer, None)
    check_style(None)
    assert style_from_name(ANY_STYLE) is None and style_from_name("filled") == "filled"


def test_outline_needs_a_width_level_of_two():
    tokenizer = PathTokenizer(PathTokenizerConfig(grid=25, stroke_widths=(1.0, 1.5)))
    with pytest.raises(ValueError, match="no stroke width level 2"):
        StyleBans(tokenizer, "outline")
    assert StyleBans(tokenizer, "filled")([]) == {tokenizer.paint_ids[1], tokenizer.paint_ids[2]}


def test_is_outline_reads_width_and_fill(stroke_icon, filled_icon):
    assert is_outline(stroke_icon)  # the invisible bounding box path does not count
    assert not is_outline(filled_icon)
    assert not is_outline(stroke_icon.replace('stroke-width="2"', 'stroke-width="1.5"'))
    assert not is_outline(stroke_icon.replace('<circle cx="12" cy="14" r="2"/>',
                                              '<circle cx="12" cy="14" r="2" fill="black"/>'))
    assert not is_outline('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"/>')

