"""parse_transform (SVG transform lists) and fit_matrix (viewBox fitting)."""

import numpy as np
import pytest

from gfx.svg.core.document import SVGError
from gfx.svg.core.transform import IDENTITY, fit_matrix, parse_transform


@pytest.mark.parametrize(
    "text, matrix",
    [
        ("translate(3 4)", [[1, 0, 3], [0, 1, 4]]),
        ("translate(3)", [[1, 0, 3], [0, 1, 0]]),
        ("scale(2)", [[2, 0, 0], [0, 2, 0]]),
        ("scale(2,3)", [[2, 0, 0], [0, 3, 0]]),
        ("rotate(90)", [[0, -1, 0], [1, 0, 0]]),
        ("rotate(90 10 0)", [[0, -1, 10], [1, 0, -10]]),
        ("skewX(45)", [[1, 1, 0], [0, 1, 0]]),
        ("skewY(45)", [[1, 0, 0], [1, 1, 0]]),
        ("matrix(1 2 3 4 5 6)", [[1, 3, 5], [2, 4, 6]]),
        ("translate(1,0) scale(2)", [[2, 0, 1], [0, 2, 0]]),
        ("scale(2),translate(1,0)", [[2, 0, 2], [0, 2, 0]]),
        ("", [[1, 0, 0], [0, 1, 0]]),
    ],
)
def test_transform_parsing(text, matrix):
    np.testing.assert_allclose(parse_transform(text), matrix, atol=1e-12)


@pytest.mark.parametrize("text", ["scale(1 2 3)", "rotate(1,2)", "bogus(1)", "translate(1", "scale(1) x"])
def test_bad_transforms_are_refused(text):
    with pytest.raises(SVGError):
        parse_transform(text)


def test_wrong_argument_counts_name_the_function():
    with pytest.raises(SVGError, match=r"<g> transform rotate\(\) takes 1 or 3 numbers, got 2"):
        parse_transform("rotate(1 2)", "<g> transform")


@pytest.mark.parametrize(
    "source, target, matrix",
    [
        ((0, 0, 24, 24), (0, 0, 24, 24), IDENTITY),
        ((0, 0, 12, 12), (0, 0, 24, 24), [[2, 0, 0], [0, 2, 0]]),
        ((0, 0, 10, 20), (0, 0, 24, 24), [[1.2, 0, 6], [0, 1.2, 0]]),  # narrower: centred in x
        ((5, -5, 20, 10), (1, 1, 4, 4), [[0.2, 0, 0], [0, 0.2, 3]]),  # min corner moves, centred in y
    ],
)
def test_fit_matrix_meets_and_centres(source, target, matrix):
    np.testing.assert_allclose(fit_matrix(source, target), matrix, atol=1e-12)


def test_fit_matrix_refuses_empty_view_boxes():
    with pytest.raises(SVGError, match=r"viewBox sizes must be positive; got 0.0 x 10.0 into 24.0 x 24.0"):
        fit_matrix((0, 0, 0, 10), (0, 0, 24, 24))
