"""Differentiable refinement: a perturbed icon is pulled back onto its image; structure is kept."""

import numpy as np
import pytest

from gfx.svg.core.document import Document, Path
from gfx.svg.core.metrics import mse
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render
from gfx.svg.vectorization.refine import refine, round_document


def perturbed(doc: Document, sigma: float, width_factor: float, seed: int = 0) -> Document:
    rng = np.random.default_rng(seed)
    return Document(doc.view_box, [
        Path(p.commands, p.coords + rng.normal(0, sigma, p.coords.shape),
             p.style.replace(stroke_width=p.style.stroke_width * width_factor))
        for p in doc.paths])


@pytest.mark.parametrize("icon", ["stroke_icon", "filled_icon"])
def test_refine_recovers_a_perturbed_icon(icon, request):
    doc = normalize(parse_svg(request.getfixturevalue(icon)))
    target = render(doc, 64)
    start = perturbed(doc, 0.35, 1.3)
    before = mse(target, render(start, 64))
    out = refine(start, target, steps=80, size=64, prune=False)
    after = mse(target, render(out, 64))
    assert before > 0.01
    assert after < before / 10
    # structure is unchanged: same commands, paints, caps; strokes stay strokes
    assert [p.commands for p in out.paths] == [p.commands for p in start.paths]
    assert [(p.style.fill, p.style.stroke, p.style.stroke_linecap) for p in out.paths] == \
        [(p.style.fill, p.style.stroke, p.style.stroke_linecap) for p in start.paths]


def test_refine_never_returns_something_worse_than_its_input(filled_icon):
    doc = normalize(parse_svg(filled_icon))
    target = render(doc, 64)
    out = refine(doc, target, steps=5, size=64, lr=3.0, prune=False, decimals=6)  # absurd lr: every step hurts
    assert mse(target, render(out, 64)) <= mse(target, render(doc, 64)) + 1e-5


def test_pruning_drops_a_path_that_does_not_help(filled_icon):
    doc = normalize(parse_svg(filled_icon))
    target = render(doc, 64)
    speck = Path("MLLLZ", [30, 30, 30.1, 30, 30.1, 30.1, 30, 30.1], doc.paths[0].style)  # off-canvas speck
    out = refine(Document(doc.view_box, [*doc.paths, speck]), target, steps=10, size=64)
    assert len(out.paths) == 1


def test_refine_optimises_colours_of_colour_documents():
    doc = normalize(parse_svg('<svg viewBox="0 0 24 24"><rect x="2" y="2" width="9" height="20" fill="#ff0000"/>'
                              '<rect x="13" y="2" width="9" height="20" fill="#0000ff"/></svg>'))
    target = render(doc, 32)
    start = Document(doc.view_box, [Path(p.commands, p.coords, p.style.replace(fill=c))
                                    for p, c in zip(doc.paths, ["#c03030", "#3030c0"], strict=True)])
    out = refine(start, target, steps=60, size=32, color_lr=0.03, prune=False)
    assert mse(target, render(out, 32)) < mse(target, render(start, 32)) / 4


def test_round_document_rounds_coordinates_and_widths():
    doc = Document((0, 0, 24, 24), [Path("ML", [1.23456, 2.5, 3.14159, 4.0])])
    doc.paths[0].style = doc.paths[0].style.replace(stroke="#000000", stroke_width=1.23456)
    out = round_document(doc, 1)
    assert out.paths[0].coords.tolist() == [1.2, 2.5, 3.1, 4.0] and out.paths[0].style.stroke_width == 1.2
