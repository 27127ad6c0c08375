"""Macro tokens: each expansion is exactly the tokens of its hand-written primitive, expansion is deterministic,
compression round-trips, and the grammar takes the compressed corpus."""

import numpy as np
import pytest

from gfx.backbones.constraints import Grammar
from gfx.svg.core.document import SVGError
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.macros import PathMacros, distance
from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig
from gfx.svg.tokenizers.vocab import BOS_ID, EOS_ID

TOK = PathTokenizer(PathTokenizerConfig(grid=97))  # 4 lattice steps per unit
MACROS = PathMacros(TOK)


def encode(*elements: str) -> list[int]:
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="black" '
           f'stroke-width="2">{"".join(elements)}</svg>')
    return TOK.encode(normalize(parse_svg(svg), to_paths=True))


def p(x: float, y: float) -> int:
    return TOK.point_base + round(4 * x) + round(4 * y) * TOK.lattice


def call(name: str, *points) -> list[int]:
    return [MACROS.ids[name], *(p(*xy) for xy in points)]


STYLE = encode('<path d="M1 1L2 2"/>')[1:2] + [TOK.width_ids[6]]  # <stroke> <w2>

PRIMITIVES = [  # (hand-written SVG element, the macro call that stands for it)
    ('<circle cx="12" cy="10" r="3"/>', call("<circle>", (12, 10), (12, 7))),
    ('<circle cx="5.5" cy="7.25" r="1.75"/>', call("<circle>", (5.5, 7.25), (7.25, 7.25))),
    ('<rect x="3" y="4" width="18" height="12" rx="2"/>', call("<rrect>", (3, 4), (21, 16), (5, 4))),
    ('<rect x="3" y="4" width="18" height="12"/>', call("<rrect>", (3, 4), (21, 16), (3, 4))),
    ('<rect x="3" y="4" width="18" height="4" rx="2"/>', call("<rrect>", (3, 4), (21, 8), (5, 4))),
    ('<rect x="3.5" y="4" width="7" height="9" rx="1.5"/>', call("<rrect>", (3.5, 4), (10.5, 13), (3.5, 5.5))),
]


@pytest.mark.parametrize("element, macro", PRIMITIVES)
def test_expansion_is_the_hand_written_primitive(element, macro):
    ids = encode(element)
    assert MACROS.expand([BOS_ID, *STYLE, *macro, EOS_ID]) == ids  # the same tokens, so the same render
    assert MACROS.compress(ids) == [BOS_ID, *STYLE, *MACROS.compress(ids)[3:-1], EOS_ID]
    assert MACROS.expand(MACROS.compress(ids)) == ids
    assert len(MACROS.compress(ids)) <= 3 + len(macro) + 1


def test_mirror_and_repeat_are_the_hand_written_copies():
    first = '<path d="M3 5L8 9C9 10 9 11 8 12"/>'
    mirrored = '<path d="M21 5L16 9C15 10 15 11 16 12"/>'
    moved = '<path d="M19 14L14 18C13 19 13 20 14 21"/>'  # the mirrored copy, moved: the previous subpath
    ids = encode(first)
    both = MACROS.expand([*ids[:-1], MACROS.ids["<mirror>"], *call("<repeat>", (19, 14)), EOS_ID])
    assert both == _merged(first, mirrored, moved)  # the copies join the current element
    assert MACROS.compress(encode(first + mirrored + moved)) == [
        *ids[:-1], *STYLE, MACROS.ids["<mirror>"], *STYLE, *call("<repeat>", (19, 14)), EOS_ID]


def _merged(*paths: str) -> list[int]:
    """The paths as subpaths of one element."""
    d = "".join(path.split('"')[1] for path in paths)
    return encode(f'<path d="{d}"/>')


def test_expansion_is_deterministic_and_follows_the_previous_expanded_subpath():
    seq = [BOS_ID, *STYLE, *call("<circle>", (6, 6), (6, 4)), *call("<repeat>", (18, 4)), MACROS.ids["<mirror>"],
           EOS_ID]
    assert MACROS.expand(seq) == MACROS.expand(list(seq))
    doc = TOK.decode(MACROS.expand(seq))
    (path,) = doc.elements
    assert path.commands.count("M") == 3
    circles = [sub for _, _, sub in MACROS.subpaths(MACROS.expand(seq))]
    assert distance(circles[1], MACROS.repeated(circles[0], np.array([72.0, 16.0]))) == 0
    assert distance(circles[2], MACROS.mirrored(circles[1])) == 0


def test_compression_round_trips_the_corpus_within_tolerance():
    from gfx.data.icons import load_icons

    records = [r for r in load_icons(split="val")[:60]]
    saved = 0
    for record in records:
        ids = TOK.encode(parse_svg(record.svg))
        short = MACROS.compress(ids)
        saved += len(ids) - len(short)
        back = MACROS.expand(short)
        assert TOK.is_valid(back)
        pairs = zip(MACROS.subpaths(back), MACROS.subpaths(ids), strict=True)
        assert all(distance(a, b) <= MACROS.tolerance for (_, _, a), (_, _, b) in pairs)
        assert MACROS.expand(MACROS.compress(back)) == back or len(MACROS.compress(back)) <= len(short)
    assert saved > 0


def test_grammar_takes_compressed_icons_and_refuses_a_leading_mirror():
    grammar = Grammar(MACROS.vocab, MACROS.grammar(), [EOS_ID])
    for seq in ([*STYLE, *call("<circle>", (6, 6), (6, 4)), MACROS.ids["<mirror>"], *call("<repeat>", (3, 3))],
                MACROS.compress(encode('<circle cx="6" cy="6" r="2"/>', '<circle cx="18" cy="6" r="2"/>'))[1:-1]):
        constraint = grammar.constraint()
        assert all(constraint.advance(t) for t in seq) and constraint.accepts(EOS_ID)
    constraint = grammar.constraint()
    assert constraint.advance(STYLE[0]) and constraint.advance(STYLE[1])
    assert not constraint.accepts(MACROS.ids["<mirror>"]) and constraint.accepts(MACROS.ids["<circle>"])
    assert constraint.advance(MACROS.ids["<circle>"]) and not constraint.accepts(TOK.command_ids["L"])


def test_bad_macro_sequences_say_what_is_missing():
    with pytest.raises(SVGError, match="<mirror> needs a subpath before it"):
        MACROS.expand([BOS_ID, *STYLE, MACROS.ids["<mirror>"], EOS_ID])
    with pytest.raises(SVGError, match="<circle> at position 3 needs 2 point tokens"):
        MACROS.expand([BOS_ID, *STYLE, MACROS.ids["<circle>"], p(1, 1), EOS_ID])
