"""parse_path_data: the path grammar (implicit repeats, packed numbers and flags) and its errors."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gfx.svg.core.document import SVGError
from gfx.svg.core.numbers import TooManyError
from gfx.svg.core.path_data import parse_path_data


@pytest.mark.parametrize(
    "d, commands, coords",
    [
        ("M1 2 3 4 5 6", "MLL", [1, 2, 3, 4, 5, 6]),
        ("m1 2 3 4 5 6", "MLL", [1, 2, 4, 6, 9, 12]),
        ("M1.5.5.25-1e1", "ML", [1.5, 0.5, 0.25, -10]),
        ("M0,0h5v5H1V2", "MHVHV", [0, 0, 5, 5, 1, 2]),
        ("M1 1h2v3", "MHV", [1, 1, 3, 4]),
        ("M1 1c1 1 2 2 3 3s1 1 2 2", "MCS", [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]),
        ("M1 1q1 1 2 0t2 0", "MQT", [1, 1, 2, 2, 3, 1, 5, 1]),
        ("M1 1a1 1 0 00 1 1", "MA", [1, 1, 1, 1, 0, 0, 0, 2, 2]),
        ("M1 1a1,1,0,1,1,1,1", "MA", [1, 1, 1, 1, 0, 1, 1, 2, 2]),
        ("M1 1a1 1 0 111 1", "MA", [1, 1, 1, 1, 0, 1, 1, 2, 2]),
        ("M1 1A-2 -3 45 0 1 5 5", "MA", [1, 1, 2, 3, 45, 0, 1, 5, 5]),
        ("M1 1l1 0zl0 1", "MLZL", [1, 1, 2, 1, 1, 2]),
        ("M1 1l1 0zm1 1l1 1", "MLZML", [1, 1, 2, 1, 2, 2, 3, 3]),
        ("M1e2 2E-1", "M", [100, 0.2]),
        ("  M 1 , 2  L +3 -4  ", "ML", [1, 2, 3, -4]),
        ("", "", []),
    ],
)
def test_path_data_grammar(d, commands, coords):
    path = parse_path_data(d)
    assert path.commands == commands
    np.testing.assert_allclose(path.coords, coords, atol=1e-12)


@pytest.mark.parametrize(
    "d, message",
    [
        ("L1 1", "starts with 'L'; path data must start with M"),
        ("1 1", "starts with a number"),
        ("M1 1L2", "where a number for L is expected"),
        ("M1 1X2 2", "unknown command 'X'"),
        ("M1 1Z 2 2", "the number '2' after Z"),
        ("M1 1A1 1 0 2 1 3 3", "where an arc flag 0 or 1 is expected"),
        ("M1 1L2 2e", "'e' at offset 8"),
        ("M1 1L1e308 0l1e308 0", "not finite"),
        ("M1 1L\u0663 0", "where a number for L is expected"),  # an Arabic-Indic digit is not an SVG number
    ],
)
def test_path_data_errors(d, message):
    with pytest.raises(SVGError, match=message):
        parse_path_data(d)


def test_command_budget_counts_implicit_repeats():
    assert parse_path_data("M0 0 1 1 2 2", budget=3).commands == "MLL"
    with pytest.raises(TooManyError, match=r"p has at least 4 path commands; the limit is 3") as err:
        parse_path_data("M0 0 1 1 2 2 3 3", budget=3, what="p")
    assert err.value.count == 4
    with pytest.raises(TooManyError, match=r"at least 5 path commands; the limit is 4"):
        parse_path_data("M0 0L1 1L2 2L3 3Z", budget=4)  # counted from the letters, before any array


# --- the plain-form fast path must agree with the careful lexer -----------------------------------

_LETTERS = "MmLlHhVvCcSsQqTtZz"
_SEPARATORS = ["", " ", ",", " , ", "\n", "\t "]


@st.composite
def path_texts(draw):
    """Random path data in every spelling the grammar allows, with occasional mistakes."""
    parts = [draw(st.sampled_from(["M", "m", "L", "Z", "3"]))]  # mostly valid starts, sometimes not
    for _ in range(draw(st.integers(0, 12))):
        letter = draw(st.sampled_from(_LETTERS))
        parts.append(draw(st.sampled_from(_SEPARATORS)) + letter)
        arity = {"Z": 0, "H": 1, "V": 1, "T": 2, "M": 2, "L": 2, "S": 4, "Q": 4, "C": 6}[letter.upper()]
        count = arity * draw(st.integers(0 if arity == 0 else 1, 3)) + draw(st.sampled_from([0, 0, 0, 1]))
        for _ in range(count):
            number = draw(st.sampled_from(["0", "1.5", "-2", ".5", "+3.", "10", "1.5.5", "-0.25", "7e1"]))
            parts.append(draw(st.sampled_from(_SEPARATORS)) + number)
    return "".join(parts) + draw(st.sampled_from(["", " ", ","]))


def _careful(d: str):
    from gfx.svg.core.path_data import _absolute_path, _lexed_commands

    try:
        return _absolute_path(_lexed_commands(d, 20_000, "d"), "d")
    except SVGError as err:
        return type(err)


@settings(max_examples=400, deadline=None)
@given(path_texts())
def test_fast_path_equals_the_careful_lexer(d):
    from gfx.svg.core.path_data import _absolute_path, _plain_commands

    plain = _plain_commands(d, 20_000)
    if plain is not None:  # the fast path only answers where the careful lexer succeeds, with the same path
        assert _absolute_path(plain, "d") == _careful(d)
    try:
        parsed = parse_path_data(d)
    except SVGError as err:
        assert plain is None and type(err) is _careful(d)
    else:
        assert parsed == _careful(d)


def test_fast_path_answers_for_the_corpus_and_agrees():
    from gfx.data.icons import load_icons
    from gfx.svg.core.path_data import _plain_commands

    ds = [m for r in load_icons(split="test")[:300] for m in re.findall(r' d="([^"]*)"', r.svg)]
    assert len(ds) > 300
    for d in ds:
        assert _plain_commands(d, 20_000) is not None, d  # normalized icons are in the plain form
        assert parse_path_data(d) == _careful(d)
