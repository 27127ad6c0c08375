import logging

import numpy as np
import pytest

from gfx.mesh import MeshError
from gfx.mesh.metrics import part_metrics
from gfx.mesh.parts import (
    assemble,
    assemble_shared,
    box_frames,
    boxes_from_min_max,
    boxes_to_min_max,
    center_point_encoding,
    corner_point_encoding,
    part_grids,
    quantize_positions,
    to_global,
    to_local,
)
from gfx.mesh.voxels import voxelize_parts

BOXES = np.array([[0.0, 0.5, 0.0, 1.6, 0.2, 1.2], [0.3, -0.2, 0.1, 0.1, 1.0, 0.1]], dtype=np.float32)


def test_local_frame_keeps_aspect_and_inverts(two_parts):
    seat = two_parts["seat"]
    local = to_local(seat.vertices, seat.box())
    np.testing.assert_allclose(local.min(0), [-0.5, -0.0625, -0.375], atol=1e-6)  # 1.6 is the longest edge
    np.testing.assert_allclose(local.max(0), [0.5, 0.0625, 0.375], atol=1e-6)
    np.testing.assert_allclose(to_global(local, seat.box()), seat.vertices, atol=1e-6)


def test_box_conversions_round_trip():
    bounds = boxes_to_min_max(BOXES)
    assert bounds.shape == (2, 2, 3)
    np.testing.assert_allclose(bounds[1], [[0.25, -0.7, 0.05], [0.35, 0.3, 0.15]], atol=1e-6)
    np.testing.assert_allclose(boxes_from_min_max(bounds), BOXES, atol=1e-6)
    centers, scales = box_frames(BOXES)
    np.testing.assert_allclose(scales, [1.6, 1.0], atol=1e-6)
    assert box_frames(np.zeros(6))[1][0] > 0  # a degenerate box still has an invertible frame


def test_center_point_encoding_maps_cells_through_the_boxes():
    enc = center_point_encoding(BOXES, 4)
    assert enc.shape == (2, 64, 3) and enc.dtype == np.float32
    # first cell (0, 0, 0) and last cell (3, 3, 3): centre -+ scale * (0.5 - 0.5 / R)
    np.testing.assert_allclose(enc[0, 0], BOXES[0, :3] - 1.6 * 0.375, atol=1e-6)
    np.testing.assert_allclose(enc[1, -1], BOXES[1, :3] + 1.0 * 0.375, atol=1e-6)
    np.testing.assert_allclose(enc[:, 1] - enc[:, 0], [[0, 0, 0.4], [0, 0, 0.25]], atol=1e-6)  # z fastest
    np.testing.assert_allclose(center_point_encoding(BOXES, 1)[:, 0], BOXES[:, :3], atol=1e-6)
    same = center_point_encoding(np.stack([BOXES[0], BOXES[0]]), 4)
    np.testing.assert_array_equal(same[0], same[1])  # equal boxes -> equal global positions


def test_corner_encoding_brackets_each_cell():
    corners = corner_point_encoding(BOXES, 4)
    assert corners.shape == (2, 64, 8, 3)
    np.testing.assert_allclose(corners.mean(axis=2), center_point_encoding(BOXES, 4), atol=1e-6)
    np.testing.assert_allclose(corners[0, 0].max(0) - corners[0, 0].min(0), [0.4] * 3, atol=1e-6)
    np.testing.assert_allclose(corners[1, 0, 7] - corners[1, 0, 0], [0.25] * 3, atol=1e-6)


def test_quantize_positions():
    q = quantize_positions(np.array([[-2.0, 0.0, 1.99], [-5.0, 2.0, 5.0]]))
    np.testing.assert_array_equal(q, [[0, 128, 255], [0, 255, 255]])


def test_part_grids_assemble_round_trip(two_parts):
    grids = part_grids(two_parts, 32)
    assert grids.shape == (2, 32, 32, 32) and grids.dtype == bool
    assert grids[0].any(axis=(1, 2)).all()  # the seat spans its grid's longest (x) axis
    rebuilt = assemble(grids, two_parts.boxes(), two_parts.names, two_parts.labels, two_parts.colors)
    assert rebuilt.names == two_parts.names and rebuilt.colors.tolist() == two_parts.colors.tolist()
    for score in part_metrics(rebuilt, two_parts, n_points=2000, frame="part"):
        assert score.fscores["f@0.1"] >= 0.95, score


def test_own_grids_beat_a_shared_grid_on_a_small_part(two_parts):
    # the leg is 0.2 wide: 3 cells of a 16^3 object grid, 16 cells of its own 16^3 grid
    own = assemble(part_grids(two_parts, 16), two_parts.boxes(), two_parts.names, two_parts.labels)
    _, ids = voxelize_parts(two_parts.normalized(), 16)
    shared = assemble_shared(ids, two_parts.names, two_parts.labels)
    own_leg = part_metrics(own, two_parts, frame="part")[1]
    shared_leg = part_metrics(shared, two_parts.normalized(), frame="part")[1]
    assert own_leg.chamfer < shared_leg.chamfer


def test_assemble_skips_empty_parts(caplog, two_parts):
    grids = part_grids(two_parts, 8)
    grids[1] = False
    with caplog.at_level(logging.WARNING):
        mesh = assemble(grids, two_parts.boxes(), two_parts.names, two_parts.labels)
    assert mesh.names == ["seat"] and "leg_0 has an empty grid" in caplog.text
    with pytest.raises(MeshError, match="every part grid is empty"):
        assemble(np.zeros_like(grids), two_parts.boxes(), two_parts.names, two_parts.labels)
