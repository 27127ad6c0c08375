"""parse_path_data: the path grammar (implicit repeats, packed numbers and flags) and its errors."""

import numpy as np
import pytest

from gfx.svg.document import SVGError
from gfx.svg.numbers import TooManyError
from gfx.svg.path_data import parse_path_data


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
