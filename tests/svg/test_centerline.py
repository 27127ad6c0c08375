"""Centerline tracing: strokes come back as strokes, fills as fills, and the fit is close and compact."""

import numpy as np
import pytest

from gfx.svg.core.metrics import is_valid_svg, mse
from gfx.svg.core.render import render, to_rgb
from gfx.svg.vectorization.centerline import corner_indices, fit_chain, skeleton_chains, trace_centerline
from gfx.svg.vectorization.vectorizer import vectorize

SQUIGGLE = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#000" stroke-width="2"
stroke-linecap="round" stroke-linejoin="round"><path d="M4 18L9 6L14 18"/><circle cx="18" cy="8" r="3"/>
<path d="M3 21C8 19 14 23 21 20"/></svg>"""


def test_chains_of_a_ring_a_line_and_a_t_junction():
    ring = np.zeros((20, 20), bool)
    ring[5, 5:15] = ring[14, 5:15] = ring[5:15, 5] = ring[5:15, 14] = True
    [loop] = skeleton_chains(ring)
    assert len(loop) == 37 and tuple(loop[0]) == tuple(loop[-1])  # 36 pixels, closed

    tee = np.zeros((20, 20), bool)
    tee[3, 2:17] = True  # the bar
    tee[4:15, 9] = True  # the stem
    chains = skeleton_chains(tee)
    assert len(chains) == 3 and sum(len(c) - 1 for c in chains) == 14 + 11
    ends = {tuple(c[0]) for c in chains} | {tuple(c[-1]) for c in chains}
    assert {(3, 2), (3, 16), (14, 9), (3, 9)} <= ends


def test_short_spurs_are_dropped():
    line = np.zeros((20, 30), bool)
    line[10, 2:28] = True
    line[9, 15] = line[8, 15] = True  # a 2-pixel spur off the middle
    assert len(skeleton_chains(line, min_spur=4)) == 2
    assert len(skeleton_chains(line, min_spur=0)) == 3


def test_fit_chain_uses_a_line_for_a_straight_run_and_cubics_for_an_arc():
    straight = np.stack([np.linspace(0, 10, 30), np.linspace(0, 5, 30)], 1)
    assert fit_chain(straight, 0.1)[0] == "ML"

    angle = np.linspace(0, np.pi, 60)
    arc = np.stack([10 * np.cos(angle), 10 * np.sin(angle)], 1)
    commands, coords = fit_chain(arc, 0.05)
    assert set(commands[1:]) == {"C"} and len(commands) <= 4
    ends = np.asarray(coords).reshape(-1, 2)[[0, -1]]
    assert np.allclose(ends, arc[[0, -1]])


def test_corners_are_found_where_the_chain_turns():
    leg = np.linspace(0, 1, 20)[:, None]
    vee = np.concatenate([np.hstack([leg * 10, leg * 10]), np.hstack([10 + leg[1:] * 10, 10 - leg[1:] * 10])])
    assert corner_indices(vee, span=3) == [19]
    commands, coords = fit_chain(vee, 0.05, corners=corner_indices(vee, span=3))
    assert commands == "MLL" and np.allclose(np.asarray(coords).reshape(-1, 2)[1], [10, 10])


def test_stroke_icon_is_traced_as_round_strokes_of_its_width():
    [doc] = trace_centerline([to_rgb(render(SQUIGGLE, 128))])
    assert doc.paths and all(p.style.fill is None and p.style.stroke == "#000000" for p in doc.paths)
    assert all(p.style.stroke_linecap == "round" for p in doc.paths)
    widths = [p.style.stroke_width for p in doc.paths]
    assert all(1.6 <= w <= 2.3 for w in widths), widths
    assert mse(to_rgb(render(SQUIGGLE, 128)), to_rgb(render(doc, 128))) < 0.02


def test_solid_shapes_are_traced_as_fills(filled_icon):
    [doc] = trace_centerline([to_rgb(render(filled_icon, 128))])
    assert doc.paths and all(p.style.stroke is None and p.style.fill == "#000000" for p in doc.paths)


@pytest.mark.parametrize("icon", ["SQUIGGLE", "filled"])
def test_centerline_refine_is_valid_close_and_smaller_than_the_outline(icon, filled_icon):
    svg = SQUIGGLE if icon == "SQUIGGLE" else filled_icon
    target = to_rgb(render(svg, 128))
    refined = vectorize(target, "centerline+refine", refine_steps=60)
    outline = vectorize(target, "vtracer")
    assert is_valid_svg(refined.svg) and refined.info["method"] == "centerline+refine"
    assert mse(target, refined.render(128)) <= mse(target, outline.render(128)) + 1e-4
    if icon == "SQUIGGLE":  # strokes: one number per point instead of an outline's two borders
        assert len(refined.svg) < len(outline.svg)


def test_noise_is_traced_quickly_and_left_unrefined():
    """Thousands of specks (refining them took minutes): the trace is returned unrefined."""
    noise = (np.random.default_rng(0).random((128, 128)) < 0.5).astype(np.uint8) * 255
    result = vectorize(noise, "centerline+refine")
    assert result.info["refined"] is False and is_valid_svg(result.svg)
