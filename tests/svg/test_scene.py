"""Scene composition: one clean SVG with one named group per object and one stroke width, the opacity
modulation fades what lies behind a front object and leaves separate objects alone, and `describe_svg` reads the
objects back (or guesses a concept for a plain icon)."""

import re

import numpy as np
import pytest
import torch

from gfx.svg.core.document import Document, Path, Style
from gfx.svg.core.metrics import is_valid_svg
from gfx.svg.core.serialize import to_svg
from gfx.svg.scene_compose import CANVAS, SceneConfig, compose_scene, place_in_box, primitive
from gfx.svg.scene_describe import describe_svg, scene_groups
from gfx.svg.scene_refine import modulate_opacity

PROMPT = "a small cat inside a large house and two trees left of the house"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("mode", ["primitives", "icons"])
def test_a_scene_is_one_svg_with_a_named_group_per_object(tiny_layout_dir, mode):
    result = compose_scene(PROMPT, seed=0, config=SceneConfig(mode=mode), layout_model=tiny_layout_dir)
    svg = result.svg
    assert is_valid_svg(svg) and 'viewBox="0 0 96 96"' in svg
    labels = sorted(label for label, _ in scene_groups(svg))
    assert labels == ["large house", "small cat", "tree", "tree"]
    assert sorted(o["phrase"] for o in result.info["objects"]) == labels
    assert all(n > 0 for _, n in result.groups)  # no object lost every element
    widths = set(re.findall(r'stroke-width="([0-9.]+)"', svg))
    assert widths == {"1.5"}  # one stroke width across objects
    if mode == "primitives":
        assert "<circle" in svg and "<rect" in svg and "<path" not in svg
    assert describe_svg(svg).startswith("A scene of 4 objects: ")


def test_opacity_modulation_fades_what_a_front_object_hides_and_nothing_else():
    ink = Style(fill=None, stroke="#000000", stroke_width=1.5, stroke_linecap="round", stroke_linejoin="round")
    back = Document((0, 0, CANVAS, CANVAS), [Path("ML", [34, 50, 66, 50], ink), Path("ML", [10, 10, 90, 10], ink)])
    front = place_in_box(primitive("sun"), np.array([30.0, 30, 70, 70]), 1.5, 0.04)
    boxes = np.array([[5.0, 5, 95, 95], [30, 30, 70, 70]])
    alpha_back, alpha_front = modulate_opacity([back, front], boxes, steps=30, size=64)
    assert alpha_back[0] < 0.3 and alpha_back[1] > 0.9  # the line across the sun fades, the other stays
    assert np.all(alpha_front == 1)
    apart = np.array([[0.0, 0, 20, 20], [30, 30, 70, 70]])
    assert all(np.all(a == 1) for a in modulate_opacity([back, front], apart, steps=30, size=64))


def test_groups_must_cover_the_elements():
    doc = primitive("tree")
    svg = to_svg(doc, groups=[("tree", 2)])
    assert scene_groups(svg) == [("tree", (5.0, 2.0, 19.0, 23.0))]
    with pytest.raises(ValueError, match="groups cover 3 elements; the document has 2"):
        to_svg(doc, groups=[("tree", 3)])


def test_describe_a_plain_icon_guesses_the_nearest_concepts(stroke_icon):
    text = describe_svg(stroke_icon)
    assert text.startswith("A drawing of 3 elements with no named objects")
    assert "IconCLIP" in text and re.search(r"\(\d\.\d\d\)", text)
    assert text.split(": ")[1].startswith("house")  # the fixture is Tabler's home icon
