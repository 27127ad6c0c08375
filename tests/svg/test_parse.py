"""parse_svg: element types, lengths, transforms on elements, inheritance, paint, skipping, viewBox."""

import logging
import math

import numpy as np
import pytest

from gfx.svg.core.document import Circle, Ellipse, Line, Path, Polygon, Polyline, Rect, Style, SVGError
from gfx.svg.core.parse import load_svg, parse_svg

NS = 'xmlns="http://www.w3.org/2000/svg"'


def svg(body: str, attrs: str = 'viewBox="0 0 24 24"') -> str:
    return f"<svg {NS} {attrs}>{body}</svg>"


def one(body: str, **kw):
    elements = parse_svg(svg(body, **kw)).elements
    assert len(elements) == 1, elements
    return elements[0]


# ------------------------------------------------------------------------------------------ elements


def test_each_element_type():
    doc = parse_svg(
        svg(
            '<path d="M1 2L3 4"/><rect x="1" y="2" width="3" height="4"/><circle cx="5" cy="6" r="7"/>'
            '<ellipse cx="1" cy="2" rx="3" ry="4"/><line x1="1" y1="2" x2="3" y2="4"/>'
            '<polyline points="1,2 3,4 5,6"/><polygon points="1 2 3 4 5 6"/>'
        )
    )
    p, r, c, e, ln, pl, pg = doc.elements
    assert p == Path("ML", [1, 2, 3, 4])
    assert r == Rect(1, 2, 3, 4)
    assert c == Circle(5, 6, 7)
    assert e == Ellipse(1, 2, 3, 4)
    assert ln == Line(1, 2, 3, 4)
    assert pl == Polyline([[1, 2], [3, 4], [5, 6]]) and type(pl) is Polyline
    assert pg == Polygon([[1, 2], [3, 4], [5, 6]])


def test_rect_radii_default_to_each_other_and_are_clamped():
    assert one('<rect width="10" height="4" rx="1"/>') == Rect(0, 0, 10, 4, 1, 1)
    assert one('<rect width="10" height="4" ry="3"/>') == Rect(0, 0, 10, 4, 3, 2)
    assert one('<rect width="10" height="4" rx="8" ry="1"/>') == Rect(0, 0, 10, 4, 5, 1)
    assert one('<ellipse rx="2" ry="auto"/>') == Ellipse(0, 0, 2, 2)


def test_units_and_percentages():
    assert one('<circle cx="1in" cy="2.54cm" r="12pt"/>') == Circle(96, 96, 16)
    r = one('<rect x="10%" y="50%" width="100%" height="25%"/>', attrs='viewBox="0 0 200 100"')
    assert r == Rect(20, 50, 200, 25)


def test_negative_sizes_are_skipped_and_bad_lengths_refused():
    assert parse_svg(svg('<circle r="-1"/><rect width="-2" height="1"/>')).elements == []
    with pytest.raises(SVGError, match=r"<circle> r '12 px x' is not a length"):
        parse_svg(svg('<circle r="12 px x"/>'), source="a.svg")
    with pytest.raises(SVGError, match=r"<polygon> points has 3 numbers; expected x,y pairs"):
        parse_svg(svg('<polygon points="1 2 3"/>'))


# ----------------------------------------------------------------------------------------- transforms


def test_translate_and_uniform_scale_keep_primitive_types():
    doc = parse_svg(
        svg(
            '<g transform="translate(10 20) scale(2)"><circle cx="1" cy="2" r="3" stroke="red"/>'
            '<rect x="1" y="1" width="2" height="3" rx=".5"/><ellipse cx="1" cy="1" rx="2" ry="1"/>'
            '<path d="M0 0H1V1A1 2 0 0 1 2 2"/></g>'
        )
    )
    c, r, e, p = doc.elements
    scaled = Style(stroke_width=2.0)  # the stroke width scales even where no stroke is painted
    assert c == Circle(12, 24, 6, scaled.replace(stroke="#ff0000"))
    assert r == Rect(12, 22, 4, 6, 1, 1, scaled)
    assert e == Ellipse(12, 22, 4, 2, scaled)
    assert p.commands == "MHVA"
    np.testing.assert_allclose(p.coords, [10, 20, 12, 22, 2, 4, 0, 0, 1, 14, 24])


def test_rotation_keeps_circles_and_arcs_but_makes_rects_paths():
    doc = parse_svg(
        svg(
            '<g transform="rotate(90)"><circle cx="1" cy="0" r="2"/><rect width="2" height="1"/>'
            '<path d="M0 0A2 1 0 0 1 4 0H5"/><line x1="1" y1="0" x2="2" y2="0"/></g>'
        )
    )
    c, r, p, ln = doc.elements
    assert isinstance(c, Circle)
    np.testing.assert_allclose([c.cx, c.cy, c.r], [0, 1, 2], atol=1e-12)
    assert isinstance(r, Path) and r.commands == "MLLLZ"
    np.testing.assert_allclose(r.points, [[0, 0], [0, 2], [-1, 2], [-1, 0]], atol=1e-12)
    assert p.commands == "MAL"  # arc rotated by 90 degrees, H became L
    np.testing.assert_allclose(p.coords, [0, 0, 2, 1, 90, 0, 1, 0, 4, 0, 5], atol=1e-12)
    assert isinstance(ln, Line)
    np.testing.assert_allclose([ln.x1, ln.y1, ln.x2, ln.y2], [0, 1, 0, 2], atol=1e-12)


def test_reflection_flips_arc_sweep_and_skew_turns_arcs_into_cubics():
    p = one('<path transform="scale(-1 1)" d="M0 0A1 1 0 0 1 2 0"/>')
    assert p.commands == "MA"
    np.testing.assert_allclose(p.coords, [0, 0, 1, 1, 180, 0, 0, -2, 0], atol=1e-12)
    q = one('<path transform="skewX(30)" d="M0 0A1 1 0 0 1 2 0"/>')
    assert q.commands == "MCC"
    # the arc's top (1, -1) is skewed to (1 - tan 30, -1)
    np.testing.assert_allclose(q.coords[6:8], [1 - math.tan(math.radians(30)), -1], atol=1e-12)


def test_non_uniform_scale_makes_circles_ellipses_and_scales_stroke_by_sqrt_det():
    e = one('<circle cx="1" cy="1" r="1" stroke="#000" stroke-width="2" transform="scale(2 8)"/>')
    assert e == Ellipse(2, 8, 2, 8, Style(stroke="#000000", stroke_width=8.0))


def test_nested_transforms_compose_outer_first():
    c = one('<g transform="translate(5 0)"><g transform="scale(2)"><circle cx="1" cy="1" r="1"/></g></g>')
    assert c == Circle(7, 2, 2, Style(stroke_width=2.0))


def test_nested_svg_maps_its_viewbox_into_its_viewport():
    c = one(
        '<svg x="2" y="2" width="10" height="10" viewBox="0 0 100 100"><circle cx="50" cy="50" r="10"/></svg>'
    )
    assert c == Circle(7, 7, 1, Style(stroke_width=0.1))


# ---------------------------------------------------------------------------------------- inheritance


def test_presentation_attributes_and_style_inherit():
    doc = parse_svg(
        svg(
            '<g fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">'
            '<path d="M0 0L1 1"/><g style="stroke: #f00 ; stroke-linejoin:bevel"><path d="M0 0L1 1" stroke="blue"/></g>'
            '<path d="M0 0L1 1" style="fill:inherit;stroke-width:3px" fill="red" stroke-width="9"/></g>',
            attrs='viewBox="0 0 24 24" fill-rule="evenodd"',
        )
    )
    a, b, c = (e.style for e in doc.elements)
    base = Style(fill=None, stroke="#000000", stroke_width=2.0, fill_rule="evenodd", stroke_linecap="round")
    assert a == base
    assert b == base.replace(stroke="#0000ff", stroke_linejoin="bevel")  # own attribute beats inherited style
    assert c == base.replace(stroke_width=3.0)


def test_opacity_multiplies_and_colour_alpha_folds_into_paint_opacity():
    p = one(
        '<g opacity=".5"><g opacity="50%"><path d="M0 0L1 1L1 0" fill-opacity=".5" fill="rgba(255,0,0,.5)"'
        ' stroke="#00ff0080"/></g></g>'
    )
    assert p.style.opacity == pytest.approx(0.25)
    assert p.style.fill == "#ff0000" and p.style.fill_opacity == pytest.approx(0.25)
    assert p.style.stroke == "#00ff00" and p.style.stroke_opacity == pytest.approx(128 / 255)


def test_current_color_follows_the_color_property():
    doc = parse_svg(
        svg(
            '<g color="red"><path d="M0 0H1V1Z" fill="currentColor"/>'
            '<g color="currentColor" stroke="currentColor"><path d="M0 0H1V1Z" color="#00f"/></g></g>'
            '<path d="M0 0H1V1Z" fill="currentColor"/>'
        )
    )
    assert [(e.style.fill, e.style.stroke) for e in doc.elements] == [
        ("#ff0000", None),
        ("#000000", "#0000ff"),  # currentColor is resolved where it is used, with that element's color
        ("#000000", None),
    ]


def test_hidden_and_non_rendering_elements_are_skipped(caplog):
    body = (
        '<defs><path id="a" d="M0 0L1 1"/></defs><clipPath><rect width="1" height="1"/></clipPath>'
        '<mask><circle r="1"/></mask><symbol><circle r="1"/></symbol><title>t</title><desc>d</desc>'
        '<metadata><x/></metadata><style>path{fill:red}</style><linearGradient id="g"/>'
        '<g display="none"><circle r="1"/></g><g visibility="hidden"><circle r="2"/>'
        '<circle r="3" visibility="visible"/></g><circle r="4" style="display:none"/>'
        '<text>hi</text><image href="x.png"/><circle r="3" stroke-dasharray="none"/>'
        '<circle r="4" clip-path="url(#c)" style="stroke-dasharray: 1 2"/>'
        '<foo:bar xmlns:foo="urn:foo"><circle r="9"/></foo:bar><circle r="5"/>'
    )
    with caplog.at_level(logging.WARNING, logger="gfx.svg.core.parse"):
        doc = parse_svg(svg(body), source="s.svg")
    assert [e.r for e in doc.elements] == [3, 3, 4, 5]
    warnings = [r.getMessage() for r in caplog.records]
    skipped = [f"s.svg: skipped <{tag}> elements (not supported)" for tag in ("text", "image")]
    assert warnings == [*skipped, "s.svg: ignored stroke-dasharray (not supported)"]  # a missing clip path: none


def test_paint_keywords():
    doc = parse_svg(
        svg('<path d="M0 0H1V1Z" fill="none" stroke="url(#g) #0f0"/><path d="M0 0H1V1Z" fill="url(#g)"/>')
    )
    assert doc.elements[0].style.fill is None and doc.elements[0].style.stroke == "#00ff00"
    assert doc.elements[1].style.fill is None  # a reference to nothing paints nothing (cairosvg agrees)
    with pytest.raises(SVGError, match=r"x.svg: <path> fill 'blurple' is not a colour"):
        parse_svg(svg('<path d="M0 0" fill="blurple"/>'), source="x.svg")
    with pytest.raises(SVGError, match=r"stroke-linecap 'flat' is not one of butt, round, square"):
        parse_svg(svg('<path d="M0 0" stroke-linecap="flat"/>'))


# -------------------------------------------------------------------------------------------- viewBox


@pytest.mark.parametrize(
    "attrs, view_box",
    [
        ('viewBox="-1 -2 30 40"', (-1, -2, 30, 40)),
        ('viewBox="0,0,24,24" width="48"', (0, 0, 24, 24)),
        ('width="48px" height="32"', (0, 0, 48, 32)),
        ('width="100%"', (0, 0, 300, 150)),
        ("", (0, 0, 300, 150)),
    ],
)
def test_view_box(attrs, view_box):
    assert parse_svg(svg("", attrs=attrs)).view_box == view_box


@pytest.mark.parametrize("view_box", ["0 0 0 10", "0 0 10", "0 0 -1 1", "a b c d"])
def test_bad_view_box_is_refused(view_box):
    with pytest.raises(SVGError, match="viewBox"):
        parse_svg(svg("", attrs=f'viewBox="{view_box}"'))


def test_svg_without_namespace_bytes_with_encoding_and_load(tmp_path):
    assert parse_svg('<svg viewBox="0 0 1 1"><circle r="1"/></svg>').elements == [Circle(0, 0, 1)]
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><svg><title>caf\xe9</title><circle r="2"/></svg>'
    assert parse_svg(latin.encode("latin-1")).elements == [Circle(0, 0, 2)]
    assert parse_svg(latin).elements == [Circle(0, 0, 2)]  # str input ignores the declared encoding
    path = tmp_path / "icon.svg"
    path.write_text(svg('<circle r="3"/>'))
    assert load_svg(path).elements == [Circle(0, 0, 3)]
    with pytest.raises(SVGError, match="cannot read .*missing.svg"):
        load_svg(tmp_path / "missing.svg")


# -------------------------------------------------------------------------------------- use, clip, mask


def test_use_draws_a_placed_copy_that_inherits_from_the_use():
    doc = parse_svg(
        svg(
            '<defs><path id="p" d="M0 0H2V2Z"/><g id="g" fill="#00f"><circle r="1"/></g></defs>'
            '<use href="#p" x="3" y="4" fill="#f00"/><use xlink:href="#g" transform="translate(10 0)" fill="#0f0"/>'
            '<use href="#missing"/>',
            attrs='viewBox="0 0 24 24" xmlns:xlink="http://www.w3.org/1999/xlink"',
        )
    )
    path, circle = doc.elements
    assert path == Path("MHVZ", [3, 4, 5, 6], Style(fill="#ff0000"))
    assert (circle.cx, circle.cy, circle.style.fill) == (10, 0, "#0000ff")  # the group's own fill wins


def test_use_of_a_symbol_maps_its_view_box_into_the_use_size():
    doc = parse_svg(
        svg('<symbol id="s" viewBox="0 0 10 10"><rect width="10" height="10"/></symbol>'
            '<use href="#s" x="2" y="2" width="4" height="4"/>')
    )  # fmt: skip
    (rect,) = doc.elements
    assert (rect.x, rect.y, rect.width, rect.height, rect.style.stroke_width) == (2, 2, 4, 4, 0.4)


def test_group_opacity_and_paint_opacities_reach_each_element():
    a, b = parse_svg(svg('<g opacity=".5"><path d="M0 0H1V1Z" fill-opacity=".4"/><circle r="1" stroke="#000" '
                         'stroke-opacity=".2"/></g>')).elements  # fmt: skip
    assert (a.style.opacity, a.style.fill_opacity) == (0.5, 0.4)
    assert (b.style.opacity, b.style.stroke_opacity) == (0.5, 0.2)


def test_a_clip_path_lands_on_every_element_of_its_group_in_document_coordinates():
    doc = parse_svg(
        svg(
            '<defs><rect id="r" width="4" height="4"/></defs>'
            '<clipPath id="c" transform="translate(1 0)"><use href="#r" clip-rule="evenodd"/></clipPath>'
            '<g transform="scale(2)" clip-path="url(#c)"><circle r="1"/><circle cx="2" r="1"/></g>'
            '<clipPath id="box" clipPathUnits="objectBoundingBox"><rect width=".5" height="1"/></clipPath>'
            '<rect x="10" y="10" width="4" height="2" clip-path="url(#box)"/>'
        )
    )
    first, second, boxed = doc.elements
    assert first.style.clip is second.style.clip  # one clip path object for the group
    (clip,) = first.style.clip
    assert clip.paths[0].coords.tolist() == [2, 0, 10, 0, 10, 8, 2, 8] and clip.paths[0].style.fill_rule == "evenodd"
    assert boxed.style.clip[0].paths[0].coords.tolist() == [10, 10, 12, 10, 12, 12, 10, 12]


def test_nested_clip_paths_intersect_and_masks_keep_their_content_and_region():
    doc = parse_svg(
        svg(
            '<clipPath id="a"><rect width="10" height="10"/></clipPath>'
            '<clipPath id="b" clip-path="url(#a)"><circle r="5"/></clipPath>'
            '<mask id="m"><rect width="1" height="1" fill="#fff"/></mask>'
            '<g clip-path="url(#b)"><g mask="url(#m)"><rect x="2" y="2" width="10" height="10"/></g></g>'
        )
    )
    (rect,) = doc.elements
    assert [len(c.paths) for c in rect.style.clip] == [1, 1]  # b, then the a it is clipped by
    (mask,) = rect.style.mask
    assert mask.elements == (Rect(0, 0, 1, 1, style=Style(fill="#ffffff")),)
    assert np.allclose(mask.region, (1, 1, 12, 12))  # -10% .. 120% of the masked box (2, 2, 10, 10)
