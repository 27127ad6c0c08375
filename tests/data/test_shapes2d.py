"""The 2D world: seeded scenes, captions that name what is drawn, and detectors that read it back."""

import numpy as np
import pytest

from gfx.data.shapes2d.detect import detect, property_accuracy
from gfx.data.shapes2d.raster import render
from gfx.data.shapes2d.world import STYLES, Scene, Shape2D, WorldConfig, caption, sample_scene


def test_sampling_is_seeded_and_objects_take_distinct_cells():
    a = [sample_scene(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    for scene in (sample_scene(np.random.default_rng(s)) for s in range(50)):
        assert len({o.cell for o in scene.objects}) == len(scene.objects)
        if scene.style != "filled":
            assert all(o.size == "large" for o in scene.objects)


def test_captions_name_objects_counts_relations_and_never_the_mark():
    red = Shape2D("circle", "red", "large", (1, 0))
    blue = Shape2D("star", "blue", "small", (1, 2))
    assert caption(Scene((red, blue), mark="top left")) == "a large red circle to the left of a small blue star"
    copies = Scene(tuple(Shape2D("heart", "green", "large", c) for c in [(0, 0), (2, 2)]), style="striped")
    assert caption(copies) == "two large striped green hearts"
    assert caption(Scene((red,), palette="dark"), config=WorldConfig(position_prob=0.0)) == (
        "a large red circle on a dark background")


def test_render_paints_the_palette_and_the_object_colour():
    image = render(Scene((Shape2D("square", "blue", "large", (1, 1)),), palette="dark"))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == (30, 30, 35)
    assert tuple(image[32, 32]) == (40, 80, 220)


@pytest.mark.parametrize("style", STYLES)
def test_detect_reads_back_a_scene(style):
    scene = Scene((Shape2D("triangle", "orange", "large", (0, 2)), Shape2D("circle", "purple", "large", (2, 0))),
                  style=style, mark="bottom right")
    found = detect(render(scene))
    assert found.style == style and found.mark == "bottom right" and found.palette == "light"
    assert [(o.shape, o.color, o.size, o.cell) for o in found.objects] == [
        ("triangle", "orange", "large", (0, 2)), ("circle", "purple", "large", (2, 0))]


def test_detectors_are_accurate_on_world_renders():
    rng = np.random.default_rng(11)
    scenes = [sample_scene(rng, WorldConfig(mark_prob=0.3)) for _ in range(120)]
    accuracy = property_accuracy(scenes, [render(s) for s in scenes])
    assert min(accuracy.values()) >= 0.95, accuracy


def test_detect_sees_an_empty_picture_as_empty():
    found = detect(np.full((64, 64, 3), 240, np.uint8))
    assert found.count == 0 and found.style is None and found.mark is None


def test_the_default_world_is_unchanged_by_novel_shapes():
    """The shapes-diffusion model trains on this stream: its scenes, renders and captions must stay byte-identical
    (the digest was taken before NOVEL_SHAPES existed)."""
    import hashlib

    digest = hashlib.sha256()
    rng = np.random.default_rng(0)
    for _ in range(40):
        scene = sample_scene(rng, WorldConfig(mark_prob=0.25))
        digest.update(render(scene).tobytes())
        digest.update(caption(scene, rng).encode())
    assert digest.hexdigest() == "072ef19b0f28ed0568dd7a0d47306d940430fee7aef3a5f884fa3e3ac144f212"


@pytest.mark.parametrize("style", STYLES)
def test_a_novel_shape_is_drawn_and_recognised_only_when_asked_for(style):
    from gfx.data.shapes2d.world import NOVEL_SHAPES, SHAPES

    scene = Scene((Shape2D("cross", "green", "large", (1, 1)), Shape2D("circle", "red", "large", (0, 0))),
                  style=style)
    image = render(scene)
    found = detect(image, SHAPES + NOVEL_SHAPES)
    assert [(o.shape, o.color) for o in found.objects] == [("circle", "red"), ("cross", "green")]
    assert found.style == style
    assert detect(image).objects[1].shape in SHAPES  # the default detector knows only the world's shapes
    rng = np.random.default_rng(5)
    assert all(o.shape in SHAPES for _ in range(200) for o in sample_scene(rng).objects)
