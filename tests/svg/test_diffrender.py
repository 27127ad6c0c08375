"""The soft rasterizer: agreement with cairosvg, exact gradients, batching, round trips, optimization."""

import dataclasses
import random

import numpy as np
import pytest
import torch

from gfx.svg.core.document import Document, Path, Style, SVGError
from gfx.svg.core.geometry import KAPPA
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render, to_rgb
from gfx.svg.vectorization.diffrender import (
    render_batch,
    render_scene,
    scene_from_document,
    scene_to_document,
)
from tests.conftest import FILLED_ICON, STROKE_ICON

torch.set_num_threads(1)

ROUND = dict(fill=None, stroke="#000000", stroke_width=2.0, stroke_linecap="round", stroke_linejoin="round")


def circle(cx: float, cy: float, r: float, reverse: bool = False) -> tuple[str, list[float]]:
    """A circle as four cubics, clockwise on screen (or counter-clockwise with `reverse`)."""
    k = KAPPA * r
    pts = [(cx + r, cy), (cx + r, cy + k), (cx + k, cy + r), (cx, cy + r), (cx - k, cy + r), (cx - r, cy + k),
           (cx - r, cy), (cx - r, cy - k), (cx - k, cy - r), (cx, cy - r), (cx + k, cy - r), (cx + r, cy - k),
           (cx + r, cy)]  # fmt: skip
    if reverse:
        pts = pts[::-1]
    return "MCCCCZ", [v for p in pts for v in p]


def ring(rule: str, reverse_inner: bool) -> Document:
    (c1, p1), (c2, p2) = circle(12, 12, 10), circle(12, 12, 5, reverse_inner)
    return Document((0, 0, 24, 24), [Path(c1 + c2, p1 + p2, Style(fill_rule=rule))])


ICONS = {
    "stroke_icon": normalize(parse_svg(STROKE_ICON)),
    "ring_evenodd": normalize(parse_svg(FILLED_ICON)),
    "ring_nonzero_same_winding": ring("nonzero", reverse_inner=False),  # the hole is filled
    "ring_nonzero_opposite_winding": ring("nonzero", reverse_inner=True),  # the hole stays empty
    "cubic_fill_and_stroke": Document(
        (0, 0, 24, 24),
        [
            Path(
                "MCZ",
                [3, 3, 30, 0, 20, 30, 3, 20],
                Style(
                    fill="#ffcc00", stroke="#334455", stroke_width=1.5, opacity=0.7, stroke_linejoin="round"
                ),
            )
        ],
    ),  # fmt: skip
    "butt_and_square_caps": Document(
        (0, 0, 24, 24),
        [
            Path("ML", [4, 4, 20, 15], Style(fill=None, stroke="#0000ff", stroke_width=3)),
            Path(
                "ML",
                [4, 18, 20, 20],
                Style(
                    fill=None, stroke="#00ff00", stroke_width=3, stroke_linecap="square", stroke_opacity=0.5
                ),
            ),
        ],
    ),  # fmt: skip
    "hairline_and_dot": Document(
        (0, 0, 24, 24),
        [
            Path("MLL", [2, 2, 22, 5, 3, 20], Style(**{**ROUND, "stroke_width": 0.1})),
            Path("ML", [12, 8, 12.01, 8], Style(**ROUND)),
        ],
    ),  # fmt: skip
    "drawing_on_after_z": Document(
        (0, 0, 24, 24),
        [
            Path(
                "MLLZLL",
                [4, 4, 14, 5, 6, 13, 20, 20, 21, 9],
                Style(
                    fill="#884422",
                    stroke="#000000",
                    stroke_width=1.5,
                    stroke_linecap="butt",
                    stroke_linejoin="round",
                ),
            )
        ],
    ),  # fmt: skip
    "open_subpath_fill": Document(
        (0, 0, 24, 24), [Path("MLLMLL", [3, 3, 20, 5, 10, 20, 15, 15, 22, 16, 16, 23])]
    ),
    "wide_view_box": Document(
        (-4, 2, 48, 24),
        [
            Path(
                "MLLZ",
                [-3, 3, 43, 4, -1, 25],
                Style(fill="#ff0000", stroke="#000000", stroke_linejoin="round"),
            )
        ],
    ),  # fmt: skip
}


def cairo_rgb(doc: Document, size: int) -> np.ndarray:
    return to_rgb(render(doc, size)).astype(np.float64) / 255.0


def soft_rgb(doc: Document, size: int, **options) -> np.ndarray:
    return render_scene(scene_from_document(doc, dtype=torch.float64), size, **options).numpy()


@pytest.mark.parametrize("name", sorted(ICONS))
def test_matches_cairosvg(name):
    doc = ICONS[name]
    reference = cairo_rgb(doc, 96)
    mse = float(np.mean((soft_rgb(doc, 96) - reference) ** 2))
    assert mse < 2e-4, f"{name}: MSE {mse:.2e} against cairosvg"
    assert reference.min() < 0.5  # the icon draws something


def test_fill_rules_decide_the_hole():
    centre = {name: soft_rgb(ICONS[name], 48)[24, 24] for name in ICONS if name.startswith("ring")}
    assert np.allclose(centre["ring_evenodd"], 1.0)
    assert np.allclose(centre["ring_nonzero_opposite_winding"], 1.0)
    assert np.allclose(centre["ring_nonzero_same_winding"], 0.0)


@pytest.mark.parametrize("filter_width", [1.0, 3.0])
def test_fill_coverage_is_exact_area(filter_width):
    # The box filter conserves area: the ink of a black triangle is its area in square pixels.
    doc = Document((0, 0, 32, 32), [Path("MLLZ", [5.3, 6.1, 27.7, 9.9, 11.2, 25.4])])
    ink = (1 - soft_rgb(doc, 32, filter_width=filter_width)[..., 0]).sum()
    area = abs((27.7 - 5.3) * (25.4 - 6.1) - (11.2 - 5.3) * (9.9 - 6.1)) / 2
    assert ink == pytest.approx(area, rel=1e-9)


def test_matches_cairosvg_on_corpus_sample():
    from gfx.data.icons import load_icons

    mses = []
    for source in ("tabler-outline", "lucide", "tabler-filled", "mdi"):
        records = load_icons(source)
        for record in random.Random(0).sample(records, 4):
            doc = parse_svg(record.svg)
            mses.append(float(np.mean((soft_rgb(doc, 128) - cairo_rgb(doc, 128)) ** 2)))
    assert np.mean(mses) < 2e-4 and max(mses) < 5e-4, mses


GRADIENT_SCENE = Document(
    (0, 0, 24, 24),
    [
        Path("MLCL", [4.13, 4.37, 12.21, 6.09, 16.3, 8.2, 18.1, 14.6, 20.2, 19.7, 6.3, 18.1],
             Style(fill="#336699", fill_rule="evenodd", stroke="#aa2200", stroke_width=2.5, stroke_linecap="butt",
                   opacity=0.8)),
        Path("MLLZ", [3.3, 19.6, 20.1, 3.4, 12.2, 21.7],
             Style(fill=None, stroke="#00aa00", stroke_width=1.7, stroke_linecap="round", stroke_opacity=0.6)),
        Path("ML", [6.1, 10.3, 9.7, 13.2], Style(fill=None, stroke="#202020", stroke_width=2.2, stroke_linecap="square")),
    ],
)  # fmt: skip


@pytest.mark.parametrize("filter_width", [1.0, 2.5])
def test_gradients_match_finite_differences(filter_width):
    scene = scene_from_document(GRADIENT_SCENE, dtype=torch.float64)
    names = list(scene.tensors())

    def image(*values):
        return render_scene(dataclasses.replace(scene, **dict(zip(names, values, strict=True))), 12,
                            filter_width=filter_width)  # fmt: skip

    inputs = [t.clone().requires_grad_() for t in scene.tensors().values()]
    assert torch.autograd.gradcheck(image, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)


def test_gradient_reaches_every_parameter():
    scene = scene_from_document(GRADIENT_SCENE)
    for t in scene.tensors().values():
        t.requires_grad_()
    render_scene(scene, 24).mean().backward()
    moved = scene.points.grad.abs().sum(-1) > 0  # (P, K)
    assert [row.tolist() for row in moved] == [[True] * 6, [True] * 3 + [False] * 3, [True] * 2 + [False] * 4]
    assert (scene.stroke_width.grad != 0).all()
    assert (scene.fill_color.grad[0] != 0).all() and (scene.stroke_color.grad != 0).all()
    assert (scene.opacity.grad != 0).all()


def test_batched_equals_unbatched():
    scenes = [scene_from_document(ICONS[n], dtype=torch.float64) for n in ("stroke_icon", "ring_evenodd",
                                                                           "wide_view_box", "butt_and_square_caps")]  # fmt: skip
    batch = render_batch(scenes, 40, background=(0.2, 0.9, 0.5))
    assert batch.shape == (4, 40, 40, 3)
    for scene, image in zip(scenes, batch, strict=True):
        torch.testing.assert_close(
            image, render_scene(scene, 40, background=(0.2, 0.9, 0.5)), rtol=0, atol=1e-12
        )


def test_scene_round_trips_to_document():
    for doc in ICONS.values():
        assert scene_to_document(scene_from_document(doc, dtype=torch.float64)).isclose(doc, atol=1e-9)


def test_scene_to_document_writes_edits_and_clamps():
    scene = scene_from_document(ICONS["cubic_fill_and_stroke"], dtype=torch.float64)
    scene.points[0, 0] = torch.tensor([5.5, 6.5])
    scene.fill_color[0] = torch.tensor([1.2, 0.5, -0.1])
    scene.stroke_width[0] = -1.0
    scene.opacity[0] = 1.5
    path = scene_to_document(scene).elements[0]
    assert path.coords[:2].tolist() == [5.5, 6.5]
    assert path.style.fill == "#ff8000"
    assert path.style.stroke_width == 0.0 and path.style.opacity == 1.0


def test_optimization_recovers_a_perturbed_icon():
    doc = Document(
        (0, 0, 24, 24),
        [
            Path("MLL", [4, 6, 12, 18, 20, 6], Style(**{**ROUND, "stroke": "#1f4e79"})),
            Path("MCZ", [6, 16, 9, 21, 15, 21, 18, 16], Style(fill="#e06c00")),
        ],
    )
    target = render_scene(scene_from_document(doc), 32)
    scene = scene_from_document(doc)
    scene.points += torch.randn(scene.points.shape, generator=torch.Generator().manual_seed(0))
    scene.stroke_width *= 1.6
    scene.fill_color[:] = scene.stroke_color[:] = torch.tensor([0.3, 0.6, 0.3])
    params = [scene.points, scene.stroke_width, scene.fill_color, scene.stroke_color]
    for t in params:
        t.requires_grad_()
    lrs = [0.1, 0.05, 0.03, 0.03]
    optimizer = torch.optim.Adam([{"params": [t], "lr": lr} for t, lr in zip(params, lrs, strict=True)])
    losses = []
    for _ in range(50):
        loss = ((render_scene(scene, 32) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    final = ((render_scene(scene, 32) - target) ** 2).mean().item()
    assert final < losses[0] / 50, (losses[0], final)
    torch.testing.assert_close(scene.points.detach()[0, :3], torch.tensor([[4.0, 6], [12, 18], [20, 6]]), atol=0.3,
                               rtol=0)  # fmt: skip


def test_empty_document_is_background():
    image = render_scene(scene_from_document(Document((0, 0, 24, 24), [])), 8, background=(0.1, 0.2, 0.3))
    torch.testing.assert_close(image, torch.tensor([0.1, 0.2, 0.3]).expand(8, 8, 3))


def test_refuses_bad_input():
    with pytest.raises(SVGError, match="normalize"):
        scene_from_document(parse_svg(STROKE_ICON))  # has a <circle>
    scene = scene_from_document(ICONS["ring_evenodd"])
    scene.points[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="not all finite"):
        render_scene(scene, 16)
    with pytest.raises(ValueError, match="one dtype"):
        render_batch([scene, dataclasses.replace(scene, points=scene.points.double())], 16)
    with pytest.raises(ValueError, match="size"):
        render_scene(scene_from_document(ICONS["ring_evenodd"]), 0)
