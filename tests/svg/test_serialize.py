"""to_svg: number format, defaults omitted, one element per line, parse round trips."""

import pathlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gfx.svg.core.document import (
    Circle,
    Document,
    Ellipse,
    Line,
    Path,
    Polygon,
    Polyline,
    Rect,
    Style,
    SVGError,
)
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.serialize import element_to_svg, format_number, path_data, to_svg

FIXTURES = {p.stem: p.read_text() for p in sorted((pathlib.Path(__file__).parent / "fixtures").glob("*.svg"))}


@pytest.mark.parametrize(
    "value, decimals, text",
    [
        (0.5, 3, ".5"),
        (-0.5, 3, "-.5"),
        (2.0, 3, "2"),
        (-0.0, 3, "0"),
        (-0.0001, 3, "0"),
        (1.23456, 3, "1.235"),
        (1.23456, 0, "1"),
        (10.10, 3, "10.1"),
        (100.0, 2, "100"),
        (1e-7, 8, ".0000001"),
        (123456789.5, 1, "123456789.5"),
    ],
)
def test_format_number(value, decimals, text):
    assert format_number(value, decimals) == text


def test_format_number_refuses_non_finite():
    with pytest.raises(SVGError, match="must be finite"):
        format_number(float("nan"))


def test_path_data_is_compact_and_absolute():
    coords = [
        1,
        2,
        3,
        -4.5,
        0.5,
        -0.25,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
        12,
        13,
        14,
        2,
        3,
        3,
        1,
        30,
        1,
        0,
        7,
        8,
    ]
    path = Path("MLHVCSQTAZ", coords)
    assert path_data(path) == "M1 2L3-4.5H.5V-.25C1 2 3 4 5 6S7 8 9 10Q11 12 13 14T2 3A3 1 30 1 0 7 8Z"
    with pytest.raises(SVGError, match="path has 28 numbers but its commands take 29"):
        path_data(Path("MLHVCSQTAZ", coords[:-1]))


def test_document_layout_and_defaults_omitted():
    doc = Document(
        (0, 0, 24, 24),
        [
            Path("MLZ", [0, 0, 1, 1]),
            Circle(12, 12, 0.5, Style(fill=None, stroke="#ff0000", stroke_width=2.0, stroke_linecap="round")),
        ],
    )
    assert to_svg(doc) == (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">\n'
        '<path d="M0 0L1 1Z"/>\n'
        '<circle cx="12" cy="12" r=".5" fill="none" stroke="#ff0000" stroke-width="2" stroke-linecap="round"/>\n'
        "</svg>\n"
    )


def test_every_element_and_style_field_is_written():
    style = Style(
        fill="#102030",
        stroke="#405060",
        stroke_width=0.75,
        opacity=0.5,
        fill_opacity=0.25,
        stroke_opacity=0.125,
        fill_rule="evenodd",
        stroke_linecap="square",
        stroke_linejoin="bevel",
    )
    assert element_to_svg(Rect(1, 2, 3, 4, 0.5, 0.5, style)) == (
        '<rect x="1" y="2" width="3" height="4" rx=".5" fill="#102030" stroke="#405060" stroke-width=".75"'
        ' opacity=".5" fill-opacity=".25" stroke-opacity=".125" fill-rule="evenodd" stroke-linecap="square"'
        ' stroke-linejoin="bevel"/>'
    )
    assert (
        element_to_svg(Rect(1, 2, 3, 4, 0.5, 1)) == '<rect x="1" y="2" width="3" height="4" rx=".5" ry="1"/>'
    )
    assert element_to_svg(Ellipse(1, 2, 3, 4)) == '<ellipse cx="1" cy="2" rx="3" ry="4"/>'
    assert element_to_svg(Line(1, 2, 3, 4)) == '<line x1="1" y1="2" x2="3" y2="4"/>'
    assert element_to_svg(Polyline([[1, 2], [3, 4]])) == '<polyline points="1,2 3,4"/>'
    assert element_to_svg(Polygon([[1, 2], [3, 4], [5, 0]])) == '<polygon points="1,2 3,4 5,0"/>'


@pytest.mark.parametrize("name", list(FIXTURES))
@pytest.mark.parametrize("form", ["parsed", "normalized", "primitives"])
def test_round_trip_through_text(name, form):
    doc = parse_svg(FIXTURES[name])
    if form == "normalized":
        doc = normalize(doc)
    elif form == "primitives":
        doc = normalize(doc, to_paths=False, view_box=(0, 0, 512, 512))
    for decimals in (2, 5):
        text = to_svg(doc, decimals=decimals)
        ET.fromstring(text)  # well-formed XML
        lines = text.splitlines()
        body = lines[lines.index("</defs>") + 1 if "</defs>" in lines else 1 : -1]  # elements, <g> and </g>
        assert len([line for line in body if not line.startswith(("<g ", "</g>"))]) == len(doc.elements)
        back = parse_svg(text)
        assert back.isclose(doc, atol=0.5 * 10**-decimals + 1e-9), text
        assert to_svg(back, decimals=decimals) == text  # a second trip changes nothing


def test_round_trip_of_random_documents():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 6))
        commands = "M" + "".join(rng.choice(list("LCQHVSTA"), size=n)) + "Z"
        coords = []
        for cmd in commands:
            k = {"M": 2, "L": 2, "C": 6, "Q": 4, "H": 1, "V": 1, "S": 4, "T": 2, "A": 7, "Z": 0}[cmd]
            numbers = list(rng.uniform(-50, 50, size=k).round(3))
            if cmd == "A":
                numbers[0], numbers[1] = abs(numbers[0]), abs(numbers[1])
                numbers[3], numbers[4] = float(rng.integers(0, 2)), float(rng.integers(0, 2))
            coords += numbers
        style = Style(
            fill=None if rng.random() < 0.5 else "#a0b0c0",
            stroke="#010203",
            stroke_width=float(rng.uniform(0.1, 3)),
        )
        doc = Document((-50, -50, 100, 100), [Path(commands, coords, style)])
        assert parse_svg(to_svg(doc)).isclose(doc, atol=5e-4)


def test_svg_result_shows_itself_in_notebooks():
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.result import SVGResult

    result = SVGResult(parse_svg('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M1 1L9 9"/></svg>'))
    assert result._repr_svg_() == result.svg and result.svg.startswith("<svg") and "M1 1L9 9" in result.svg
