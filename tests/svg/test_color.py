"""parse_color: CSS colour syntaxes into (#rrggbb, alpha)."""

import pytest

from gfx.svg.core.color import parse_color
from gfx.svg.core.document import SVGError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("#ABC", ("#aabbcc", 1.0)),
        ("#a1B2c3", ("#a1b2c3", 1.0)),
        ("#a1b2c380", ("#a1b2c3", 128 / 255)),
        ("rgb(255, 0, 10)", ("#ff000a", 1.0)),
        ("rgb(100%,50%,0%)", ("#ff8000", 1.0)),
        ("rgba(0 0 0 / 0.5)", ("#000000", 0.5)),
        ("hsl(120, 100%, 50%)", ("#00ff00", 1.0)),
        ("  SteelBlue ", ("#4682b4", 1.0)),
        ("transparent", ("#000000", 0.0)),
    ],
)
def test_colours(text, expected):
    colour, alpha = parse_color(text)
    assert colour == expected[0] and alpha == pytest.approx(expected[1])


@pytest.mark.parametrize("text", ["#12", "#12345", "blurple", "rgb(1,2)", "rgb(nan,0,0)", "url(#x)"])
def test_bad_colours_are_refused(text):
    with pytest.raises(SVGError, match="is not a colour"):
        parse_color(text)
