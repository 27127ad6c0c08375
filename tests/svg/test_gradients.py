"""Gradient paint servers: reading (units, href chains, stops, degenerate cases) and their canonical forms."""

import numpy as np
import pytest

from gfx.svg.core.document import Document, LinearGradient, Path, RadialGradient, Stop, Style
from gfx.svg.core.gradients import linear_in_document, radial_ellipse, radial_from_ellipse, restrict_linear
from gfx.svg.core.metrics import mse
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
STOPS = (Stop(0.0, "#ff0000"), Stop(0.4, "#00ff00", 0.5), Stop(1.0, "#0000ff"))


def fill_of(defs: str, shape: str = '<rect x="2" y="4" width="10" height="5" fill="url(#g)"/>'):
    (element,) = parse_svg(f'<svg {NS} viewBox="0 0 24 24"><defs>{defs}</defs>{shape}</svg>').elements
    return element.style


def square(paint) -> Document:
    return Document((0, 0, 24, 24), [Path("MLLLZ", [0, 0, 24, 0, 24, 24, 0, 24], Style(fill=paint))])


def test_bounding_box_units_become_user_space_and_href_chains_lend_stops_and_attributes():
    style = fill_of(
        '<linearGradient id="base" x2="0" y2="1" spreadMethod="repeat"><stop offset="10%" stop-color="#f00"/>'
        '<stop offset=".05" stop-color="rgba(0,0,255,.5)" stop-opacity=".5"/></linearGradient>'
        '<linearGradient id="g" xlink:href="#base" gradientTransform="translate(.5 0)"/>'
    )
    g = style.fill
    assert isinstance(g, LinearGradient) and (g.x1, g.y1, g.x2, g.y2, g.spread) == (0, 0, 0, 1, "repeat")
    assert g.transform == (10, 0, 0, 5, 2 + 5, 4)  # the box (2, 4, 10, 5), then the gradient's own transform
    assert g.stops == (Stop(0.1, "#ff0000"), Stop(0.1, "#0000ff", 0.25))  # offsets never decrease


def test_user_space_percentages_refer_to_the_view_box():
    g = fill_of('<radialGradient id="g" gradientUnits="userSpaceOnUse" fx="25%"><stop/><stop offset="1"/>'
                "</radialGradient>").fill  # fmt: skip
    assert isinstance(g, RadialGradient) and np.allclose((g.cx, g.cy, g.r, g.fx, g.fy), (12, 12, 12, 6, 12))


@pytest.mark.parametrize(
    "defs, fill, opacity",
    [
        ('<linearGradient id="g"/>', None, 1.0),  # no stops: nothing is painted
        ('<linearGradient id="g"><stop stop-color="#0f0" stop-opacity=".5"/></linearGradient>', "#00ff00", 0.5),
        ('<linearGradient id="g" x2="0"><stop/><stop offset="1" stop-color="#00f"/></linearGradient>', "#0000ff", 1),
        ('<radialGradient id="g" r="0"><stop/><stop offset="1" stop-color="#00f"/></radialGradient>', "#0000ff", 1),
        ('<linearGradient id="a" href="#b"/><linearGradient id="b" href="#a"/><linearGradient id="g" href="#a"/>',
         None, 1.0),  # an href cycle is followed once around, finding no stops
    ],
)
def test_degenerate_gradients_paint_what_svg_paints(defs, fill, opacity):
    style = fill_of(defs)
    assert (style.fill, style.fill_opacity) == (fill, opacity)


def test_a_gradient_on_an_element_with_an_empty_box_paints_nothing():
    style = fill_of('<linearGradient id="g"><stop/><stop offset="1"/></linearGradient>',
                    '<line x1="0" y1="5" x2="9" y2="5" stroke="url(#g)"/>')  # fmt: skip
    assert style.stroke is None


def test_linear_gradients_lose_their_transform_exactly():
    g = LinearGradient(1, 2, 5, 3, STOPS, "reflect", (1.2, 0.3, -0.5, 0.8, 2, 1))
    flat = linear_in_document(g)
    assert flat.transform == (1, 0, 0, 1, 0, 0)
    assert mse(render(square(g)), render(square(flat))) < 1e-5


def test_radial_gradients_become_a_document_ellipse_and_back():
    g = RadialGradient(3, 4, 5, 4, 5, STOPS, "pad", (0.9, 0.2, -0.6, 1.3, 4, 1))
    center, rx, ry, angle, focal = radial_ellipse(g)
    assert rx >= ry > 0 and 0 <= angle < 180
    back = radial_from_ellipse(center, rx, ry, angle, focal, STOPS)
    assert mse(render(square(g)), render(square(back))) < 1e-5
    assert radial_from_ellipse(center, 0.0, ry, angle, focal, STOPS) is None


def test_far_end_points_are_moved_onto_the_canvas_with_the_stops_remapped():
    g = LinearGradient(-100, -30, 50, 60, STOPS)
    near = restrict_linear(g, (0, 0, 24, 24))
    assert max(np.abs([near.x1, near.y1, near.x2, near.y2])) < 30
    assert mse(render(square(g)), render(square(near))) < 1e-5
