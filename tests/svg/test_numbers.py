"""parse_numbers and parse_length: separators, units, bounds and their messages."""

import numpy as np
import pytest

from gfx.svg.core.document import SVGError
from gfx.svg.core.numbers import MAX_MAGNITUDE, TooManyError, in_range, parse_length, parse_numbers


@pytest.mark.parametrize(
    "text, values",
    [
        ("0 0 24 24", [0, 0, 24, 24]),
        (" 1,2 ,3\t\n-4 ", [1, 2, 3, -4]),
        ("1.5.5-1e1+2", [1.5, 0.5, -10, 2]),
        ("", []),
    ],
)
def test_number_lists(text, values):
    assert parse_numbers(text, "n") == values


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 2 x", r"viewBox has 'x' where a number is expected"),
        ("1e400", r"viewBox has the number '1e400', which is not finite"),
        ("2e15", r"viewBox has the number '2e15', beyond the largest magnitude 1e\+15"),
        ("1 \u0663", r"where a number is expected"),  # an Arabic-Indic digit is not an SVG number
    ],
)
def test_bad_number_lists_are_refused(text, message):
    with pytest.raises(SVGError, match=message):
        parse_numbers(text, "viewBox")


def test_number_budget_stops_reading_early():
    assert parse_numbers("1 2 3", "p", max_count=3) == [1, 2, 3]
    with pytest.raises(TooManyError, match="points has more than 3 numbers") as err:
        parse_numbers("1 2 3 4 5 6 x", "points", max_count=3)  # stops before the bad token
    assert err.value.count == 4


@pytest.mark.parametrize(
    "text, reference, value",
    [
        ("12", None, 12.0),
        (" 1in ", None, 96.0),
        ("2.54CM", None, 96.0),
        ("12pt", None, 16.0),
        ("1pc", None, 16.0),
        ("25.4mm", None, 96.0),
        ("2em", None, 32.0),
        ("50%", 30.0, 15.0),
        ("50%", None, 0.0),
    ],
)
def test_lengths(text, reference, value):
    assert parse_length(text, "w", reference) == pytest.approx(value, abs=1e-12)


def test_bad_lengths_are_refused():
    with pytest.raises(SVGError, match=r"<rect> width '12 px' is not a length"):
        parse_length("12 px", "<rect> width", None)
    with pytest.raises(SVGError, match=r"r has the number '1e16', beyond the largest magnitude"):
        parse_length("1e16px", "r", None)


def test_in_range():
    assert in_range(np.array([0.0, -MAX_MAGNITUDE, MAX_MAGNITUDE]))
    assert not in_range(np.array([0.0, 2 * MAX_MAGNITUDE]))
    assert not in_range(np.array([np.nan]))
    assert not in_range(np.array([np.inf]))
