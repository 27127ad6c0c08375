"""geometry: arcs against the exact ellipse, exact element -> path conversions, affine maps."""

import numpy as np
import pytest

from gfx.svg.core.document import Circle, Ellipse, Line, Path, Polygon, Polyline, Rect
from gfx.svg.core.geometry import arc_to_cubics, element_to_path, transform_element
from gfx.svg.core.path_data import parse_path_data

# --------------------------------------------------------------------------------------------- arcs


def _ellipse_residual(points: np.ndarray, center, rx, ry, phi_deg) -> np.ndarray:
    """|p| in the unit-circle frame of the ellipse, minus 1, for (N, 2) points."""
    phi = np.radians(phi_deg)
    d = points - center
    x = (np.cos(phi) * d[:, 0] + np.sin(phi) * d[:, 1]) / rx
    y = (-np.sin(phi) * d[:, 0] + np.cos(phi) * d[:, 1]) / ry
    return np.hypot(x, y) - 1


def _sample_cubics(start, cubics: np.ndarray, n: int = 33) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    points, p0 = [], np.asarray(start, dtype=float)
    for c1x, c1y, c2x, c2y, x, y in cubics:
        c1, c2, p3 = np.array([c1x, c1y]), np.array([c2x, c2y]), np.array([x, y])
        points.append((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * p3)
        p0 = p3
    return np.concatenate(points)


@pytest.mark.parametrize(
    "start, rx, ry, phi, large, sweep, end",
    [
        ((0, 0), 5, 5, 0, 0, 1, (10, 0)),
        ((0, 0), 5, 5, 0, 0, 0, (10, 0)),
        ((0, 0), 8, 3, 30, 1, 1, (6, 2)),
        ((0, 0), 8, 3, 30, 1, 0, (6, 2)),
        ((0, 0), 8, 3, 30, 0, 1, (6, 2)),
        ((0, 0), 8, 3, 30, 0, 0, (6, 2)),
        ((3, -2), 2, 7, -75, 1, 1, (-4, 5)),
        ((0, 0), 1, 1, 0, 0, 1, (10, 0)),  # radii too small: scaled up to a half ellipse
        ((0, 0), 1, 2, 45, 1, 0, (30, -20)),
    ],
)
def test_arc_to_cubics_follows_the_exact_ellipse(start, rx, ry, phi, large, sweep, end):
    import svgpathtools

    arc = svgpathtools.Arc(complex(*start), complex(rx, ry), phi, bool(large), bool(sweep), complex(*end))
    cubics = arc_to_cubics(start, rx, ry, phi, large, sweep, end)
    assert cubics.shape[1] == 6 and 1 <= len(cubics) <= 4
    np.testing.assert_array_equal(cubics[-1, 4:], end)
    center = (arc.center.real, arc.center.imag)
    radius = max(arc.radius.real, arc.radius.imag)
    points = _sample_cubics(start, cubics)
    residual = _ellipse_residual(points, center, arc.radius.real, arc.radius.imag, arc.rotation)
    assert np.abs(residual).max() * min(arc.radius.real, arc.radius.imag) < 1e-3 * radius
    # same arc, not its complement: the midpoints agree
    mid = np.array([arc.point(0.5).real, arc.point(0.5).imag])
    assert np.min(np.linalg.norm(points - mid, axis=1)) < 1e-2 * radius
    # each segment spans at most 90 degrees of the ellipse
    sweep_total = abs(arc.delta)  # degrees
    assert len(cubics) == max(1, int(np.ceil(sweep_total / 90 - 1e-9)))


def test_arc_degenerate_cases():
    assert arc_to_cubics((1, 1), 2, 2, 0, 0, 1, (1, 1)).shape == (0, 6)
    line = arc_to_cubics((0, 0), 0, 2, 0, 0, 1, (3, 6))
    np.testing.assert_allclose(line, [[1, 2, 2, 4, 3, 6]])
    assert element_to_path(parse_path_data("M0 0A0 2 0 0 1 3 6A2 2 0 0 1 3 6")).commands == "ML"


# ------------------------------------------------------------------------------------ element_to_path


def _bezier(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Evaluate a Bézier of any degree at t (de Casteljau); points (D+1, 2), t (N,)."""
    p = np.repeat(points[None], len(t), axis=0)
    while p.shape[1] > 1:
        p = (1 - t)[:, None, None] * p[:, :-1] + t[:, None, None] * p[:, 1:]
    return p[:, 0]


def test_quadratic_to_cubic_is_exact_and_reflections_follow_the_rules():
    t = np.linspace(0, 1, 11)
    path = element_to_path(parse_path_data("M0 0Q4 8 8 0T16 0"))
    assert path.commands == "MCC"
    p = path.points
    np.testing.assert_allclose(_bezier(p[0:4], t), _bezier(np.array([[0, 0], [4, 8], [8, 0]]), t), atol=1e-12)
    np.testing.assert_allclose(
        _bezier(p[3:7], t), _bezier(np.array([[8, 0], [12, -8], [16, 0]]), t), atol=1e-12
    )
    # S after C reflects the previous second control point; S after anything else starts at the current point
    s = element_to_path(parse_path_data("M0 0C1 1 2 1 3 0S5 -1 6 0L7 0S8 1 9 0Q10 1 11 0S12 1 13 0"))
    assert s.commands == "MCCLCCC"
    np.testing.assert_allclose(s.coords[8:10], [4, -1])  # reflected (2,1) about (3,0)
    np.testing.assert_allclose(s.coords[16:18], [7, 0])  # after L: the current point
    np.testing.assert_allclose(s.coords[28:30], [11, 0])  # after Q: the current point, not a reflection
    # T after a non-Q command: control point = current point, so the curve is a straight line
    line = element_to_path(parse_path_data("M0 0L2 0T6 0"))
    np.testing.assert_allclose(line.points[1:], [[2, 0], [2, 0], [10 / 3, 0], [6, 0]])
    # T after T chains the reflections
    tt = element_to_path(parse_path_data("M0 0Q1 1 2 0T4 0T6 0"))
    np.testing.assert_allclose(
        _bezier(tt.points[6:10], t), _bezier(np.array([[4, 0], [5, 1], [6, 0]]), t), atol=1e-12
    )


def test_each_primitive_to_path():
    assert element_to_path(Line(1, 2, 3, 4)) == Path("ML", [1, 2, 3, 4])
    assert element_to_path(Polyline([[0, 0], [1, 1]])) == Path("ML", [0, 0, 1, 1])
    assert element_to_path(Polygon([[0, 0], [1, 1], [2, 0]])) == Path("MLLZ", [0, 0, 1, 1, 2, 0])
    assert element_to_path(Rect(1, 2, 3, 4)) == Path("MLLLZ", [1, 2, 4, 2, 4, 6, 1, 6])
    rounded = element_to_path(Rect(0, 0, 10, 6, 2, 3))
    assert rounded.commands == "MLCCLCC" + "Z"  # the vertical straight edges vanish: h == 2 ry
    circle = element_to_path(Circle(5, 5, 2))
    assert circle.commands == "MCCCCZ"
    np.testing.assert_allclose(circle.points[[0, 3, 6, 9, 12]], [[7, 5], [5, 7], [3, 5], [5, 3], [7, 5]])
    t = np.linspace(0, 1, 9)
    on_circle = np.concatenate([_bezier(circle.points[i : i + 4], t) for i in (0, 3, 6, 9)])
    assert np.abs(np.linalg.norm(on_circle - 5, axis=1) - 2).max() < 2 * 3e-4
    assert element_to_path(Circle(0, 0, 0)).commands == ""
    assert element_to_path(Rect(0, 0, 0, 5)).commands == ""


def test_drawing_after_z_gets_an_explicit_move():
    path = element_to_path(parse_path_data("M1 1L2 1L2 2ZL0 5ZZM3 3L4 4"))
    assert path.commands == "MLLZMLZML"  # the repeated Z is dropped
    np.testing.assert_allclose(path.coords[6:8], [1, 1])


# --------------------------------------------------------------------------------------- transforms


def test_transform_element_matches_transforming_the_path():
    m = np.array([[0.8, -0.5, 3.0], [0.3, 1.1, -2.0]])
    for element in [
        Rect(1, 2, 3, 4, 1, 0.5),
        Ellipse(2, 3, 4, 1),
        Circle(1, 1, 2),
        parse_path_data("M0 0A3 2 30 1 1 5 5H7V1"),
    ]:
        moved = element_to_path(transform_element(element, m))
        direct = element_to_path(element)
        expected = direct.points @ m[:, :2].T + m[:, 2]
        np.testing.assert_allclose(moved.points, expected, atol=1e-9)
