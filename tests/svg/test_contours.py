"""Sub-pixel contour tracing of anti-aliased masks (`gfx.svg.vectorization.contours`) and stroke merging."""

import numpy as np

from gfx.svg.core.document import Document, Path, Style
from gfx.svg.core.metrics import mse
from gfx.svg.core.render import render, to_rgb
from gfx.svg.vectorization.contours import trace_contours
from gfx.svg.vectorization.vectorizer import merge_strokes

RING = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill-rule="evenodd" '
        'd="M12 2A10 10 0 1 0 12 22A10 10 0 1 0 12 2ZM12 7A5 5 0 1 1 12 17A5 5 0 1 1 12 7Z"/></svg>')


def test_a_ring_is_traced_as_two_subpaths_whose_hole_stays_open():
    image = to_rgb(render(RING, 128))
    [doc] = trace_contours([image], tolerance=0.5)
    [path] = doc.paths
    assert path.commands.count("M") == 2 and path.style.fill_rule == "nonzero"  # the hole winds the other way
    assert mse(image, to_rgb(render(doc, 128))) < 0.002
    assert (to_rgb(render(doc, 128))[64, 64] == 255).all()  # the centre is a hole


def test_a_loose_tolerance_gives_fewer_segments_and_specks_are_dropped():
    image = to_rgb(render(RING, 128))
    image[2:4, 2:4] = 0  # a 4-pixel speck
    [tight] = trace_contours([image], tolerance=0.3, min_area=0)
    [loose] = trace_contours([image], tolerance=2.5)
    assert loose.paths[0].commands.count("M") == 2 and tight.paths[0].commands.count("M") == 3
    assert len(loose.paths[0].commands) < len(tight.paths[0].commands)


def test_strokes_of_one_style_merge_into_one_path_and_render_the_same():
    style = Style(fill=None, stroke="#000000", stroke_width=3.0, stroke_linecap="round", stroke_linejoin="round")
    paths = [Path("ML", np.array([2.0, 2, 20, 2]), style), Path("ML", np.array([2.0, 8, 20, 20]), style),
             Path("ML", np.array([2.0, 20, 8, 20]), style.replace(stroke="#ff0000"))]
    doc = Document((0.0, 0.0, 24.0, 24.0), paths)
    merged = merge_strokes(doc)
    assert [p.commands for p in merged.paths] == ["MLML", "ML"]
    np.testing.assert_array_equal(render(merged, 64), render(doc, 64))
