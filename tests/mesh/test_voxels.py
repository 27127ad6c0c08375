import numpy as np
import pytest
import trimesh

from gfx.mesh import MeshError, Part, PartMesh
from gfx.mesh.metrics import mesh_metrics
from gfx.mesh.voxels import (
    cell_centers,
    devoxelize,
    field_grid,
    points_inside,
    sample_part_surface,
    sample_surface,
    voxelize,
    voxelize_parts,
)
from tests.mesh.conftest import primitive


def test_aligned_box_occupies_exactly_the_cells_whose_centres_it_contains():
    box = trimesh.creation.box((1.0, 1.0, 1.0))  # [-0.5, 0.5]^3; R=8 cell centres at +-0.125, +-0.375 inside
    grid = voxelize(box.vertices, box.faces, 8)
    assert grid.sum() == 64
    np.testing.assert_array_equal(np.argwhere(grid).min(0), [2, 2, 2])
    # the grid moved +x: the box is in its first cells
    shifted = voxelize(box.vertices, box.faces, 8, center=(0.5, 0, 0))
    assert shifted.sum() == 64 and np.argwhere(shifted)[:, 0].max() == 3


@pytest.mark.parametrize("name", ["box", "cylinder", "sphere", "torus"])
def test_voxelize_devoxelize_round_trip(name):
    mesh = primitive(name)
    grid = voxelize(mesh.vertices, mesh.faces, 32)
    vertices, faces = devoxelize(grid)
    rebuilt = trimesh.Trimesh(vertices, faces)
    assert rebuilt.is_watertight and rebuilt.volume > 0  # closed and oriented outwards
    assert rebuilt.volume == pytest.approx(mesh.volume, rel=0.08)
    original = PartMesh.from_arrays(mesh.vertices, mesh.faces)
    scores = mesh_metrics(PartMesh.from_arrays(vertices, faces), original, n_points=4000)
    assert scores["f@0.05"] >= 0.9


def test_numpy_solid_matches_open3d():
    pytest.importorskip("open3d")
    mesh = primitive("torus")
    a = voxelize(mesh.vertices, mesh.faces, 24)
    b = voxelize(mesh.vertices, mesh.faces, 24, backend="open3d")
    assert np.count_nonzero(a != b) <= 2 and a.sum() > 100


def test_points_inside_a_torus():
    pytest.importorskip("open3d")
    mesh = primitive("torus")  # major radius 0.6, minor 0.2, around z
    inside = points_inside(
        np.array([[0.6, 0, 0], [0, 0, 0], [0, -0.6, 0.1], [0.6, 0, 0.25]]), mesh.vertices, mesh.faces
    )
    assert inside.tolist() == [True, False, True, False]


def test_surface_modes_and_thin_parts():
    plate = trimesh.creation.box((1.5, 0.01, 1.2))  # thinner than a cell
    solid = voxelize(plate.vertices, plate.faces, 32)
    surface = voxelize(plate.vertices, plate.faces, 32, mode="surface")
    filled = voxelize(plate.vertices, plate.faces, 32, mode="filled")
    assert solid.sum() == 0
    assert surface.sum() >= 24 * 19 and np.array_equal(filled, surface | solid)
    sphere = primitive("sphere")
    shell = voxelize(sphere.vertices, sphere.faces, 32, mode="surface")
    full = voxelize(sphere.vertices, sphere.faces, 32, mode="filled")
    assert not shell[16, 16, 16] and full[16, 16, 16]


def test_surface_mode_close_to_open3d():
    pytest.importorskip("open3d")
    mesh = primitive("box")
    a = voxelize(mesh.vertices, mesh.faces, 32, mode="surface")
    b = voxelize(mesh.vertices, mesh.faces, 32, mode="surface", backend="open3d")
    assert np.count_nonzero(a != b) <= 0.02 * b.sum()


def test_solid_mode_needs_a_closed_mesh_and_valid_options():
    box = trimesh.creation.box()
    with pytest.raises(MeshError, match="not closed.*mode='surface'"):
        voxelize(box.vertices, box.faces[:-1], 16)
    assert voxelize(box.vertices, box.faces[:-1], 16, mode="surface").any()
    with pytest.raises(ValueError, match="unknown voxel mode 'hollow'; valid: solid, surface, filled"):
        voxelize(box.vertices, box.faces, 16, mode="hollow")
    with pytest.raises(ValueError, match="unknown voxel backend"):
        voxelize(box.vertices, box.faces, 16, backend="cuda")


def test_devoxelize_empty_and_placement():
    with pytest.raises(MeshError, match="occupancy grid is empty"):
        devoxelize(np.zeros((8, 8, 8), bool))
    grid = np.zeros((8, 8, 8), bool)
    # the corner cell of [-1, 1]^3: its surface lies half a cell (0.125) around its centre
    grid[0, 0, 0] = True
    vertices, _ = devoxelize(grid)
    np.testing.assert_allclose(vertices.min(0), [-1.0] * 3, atol=1e-6)
    np.testing.assert_allclose(vertices.max(0), [-0.75] * 3, atol=1e-6)


def test_cell_centres_convention():
    centers = cell_centers(4, center=(1, 0, 0), scale=2.0)
    assert centers.shape == (4, 4, 4, 3)
    np.testing.assert_allclose(centers[0, 0, 0], [0.25, -0.75, -0.75])
    np.testing.assert_allclose(centers[3, 1, 2], [1.75, -0.25, 0.25])


def soft_balls(points: np.ndarray) -> np.ndarray:
    """A smooth occupancy field: a ball of radius 0.6 and a small one of radius 0.08 (Q, 3) -> (Q,)."""
    big = np.linalg.norm(points - [-0.2, 0.0, 0.0], axis=1) - 0.6
    small = np.linalg.norm(points - [0.7, 0.5, 0.5], axis=1) - 0.08
    return 1 / (1 + np.exp(np.minimum(big, small) / 0.02))


def test_field_grid_coarse_to_fine_matches_the_full_grid_with_fewer_evaluations():
    evaluated = []

    def field(points):
        evaluated.append(len(points))
        return soft_balls(points)

    full = field_grid(field, 64)
    assert full.shape == (64, 64, 64) and full.dtype == np.float32 and evaluated == [64**3]
    evaluated.clear()
    fast = field_grid(field, 64, coarse=16)
    assert sum(evaluated) < 0.4 * 64**3  # only cells near the surface are refined
    np.testing.assert_array_equal(fast > 0.5, full > 0.5)
    np.testing.assert_allclose(fast[np.abs(full - 0.5) < 0.45], full[np.abs(full - 0.5) < 0.45])
    with pytest.raises(ValueError, match="divide"):
        field_grid(field, 64, coarse=24)


def test_surface_samples_are_seeded_and_on_the_surface():
    sphere = trimesh.creation.icosphere(4, 0.5)
    p1, n1, f1 = sample_surface(sphere.vertices, sphere.faces, 500, seed=3)
    p2, _, _ = sample_surface(sphere.vertices, sphere.faces, 500, seed=3)
    p3, _, _ = sample_surface(sphere.vertices, sphere.faces, 500, seed=4)
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, p3)
    radii = np.linalg.norm(p1, axis=1)
    assert radii.max() <= 0.5 + 1e-5 and radii.min() > 0.49
    outward = np.einsum("ij,ij->i", n1, p1 / radii[:, None])
    np.testing.assert_allclose(outward, 1.0, atol=0.01)
    assert p1.shape == (500, 3) and f1.shape == (500,)


def test_part_samples_carry_part_indices(two_parts):
    points, _, part = sample_part_surface(two_parts, 2000)
    seat = part == 0
    assert 0 < seat.sum() < 2000
    assert np.all(points[seat, 1] >= 0.3 - 1e-5) and np.all(points[~seat, 1] <= 0.3 + 1e-5)


def test_voxelize_parts_unions_overlaps_and_gives_shared_cells_to_the_smaller_part():
    big = trimesh.creation.box((1.5, 1.5, 1.5))
    small = trimesh.creation.box((0.5, 0.5, 0.5))  # entirely inside `big`
    mesh = PartMesh(
        [Part("big", "body", big.vertices, big.faces), Part("small", "core", small.vertices, small.faces)]
    )
    occupancy, ids = voxelize_parts(mesh, 16, mode="solid")
    alone = voxelize(big.vertices, big.faces, 16)
    np.testing.assert_array_equal(occupancy, alone)
    assert (ids == 1).sum() == voxelize(small.vertices, small.faces, 16).sum() > 0
    assert set(np.unique(ids)) == {-1, 0, 1}
