import numpy as np
import trimesh
from PIL import Image

from gfx.mesh import Part, PartMesh
from gfx.mesh.render import (
    BACKGROUND,
    DEFAULT_VIEWS,
    View,
    contact_sheet,
    cover_triangles,
    preview,
    render,
    render_part_ids,
    render_views,
)


def test_cover_triangles_finds_exactly_the_inside_samples():
    xy = np.array([[[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]]])  # samples (i + .5, j + .5) inside when i + j <= 3
    chunks = list(cover_triangles(xy, 4, 4))
    ix = np.concatenate([c[1] for c in chunks])
    iy = np.concatenate([c[2] for c in chunks])
    assert sorted(zip(ix.tolist(), iy.tolist(), strict=True)) == sorted(
        (i, j) for i in range(4) for j in range(4) if i + j <= 3
    )
    bary = np.concatenate([c[3] for c in chunks])
    np.testing.assert_allclose(bary.sum(1), 1.0)
    small_chunks = list(cover_triangles(np.repeat(xy, 5, axis=0), 4, 4, max_pairs=16))
    assert len(small_chunks) == 5 and sum(len(c[0]) for c in small_chunks) == 50


def test_render_draws_the_parts_in_their_colours(two_parts):
    image = render(two_parts, View(30, 20), size=128)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    drawn = np.any(image != BACKGROUND, axis=-1)
    assert 0.1 < drawn.mean() < 0.9
    red = (image[..., 0] > 2 * image[..., 1]) & drawn
    green = (image[..., 1] > 2 * image[..., 0]) & drawn
    assert red.sum() > 100 and green.sum() > 20


def test_z_buffer_keeps_the_nearest_part():
    near = trimesh.creation.box((1, 1, 0.2))
    far = trimesh.creation.box((1, 1, 0.2))
    near.apply_translation([0, 0, 1])  # azimuth 0 looks from +z, so `near` hides `far`
    far.apply_translation([0, 0, -1])
    mesh = PartMesh([Part("far", "x", far.vertices, far.faces), Part("near", "x", near.vertices, near.faces)])
    ids = render_part_ids(mesh, View(0, 0), size=64)
    assert set(np.unique(ids)) == {-1, 1}
    side = render_part_ids(mesh, View(90, 0), size=64)
    assert set(np.unique(side)) == {-1, 0, 1}


def test_views_contact_sheet_and_png(tmp_path, two_parts):
    images = render_views(two_parts, size=64)
    assert len(images) == len(DEFAULT_VIEWS)
    assert not np.array_equal(images[0], images[1])
    sheet = contact_sheet(images, columns=2, pad=4)
    assert sheet.shape == (2 * 68 + 4, 2 * 68 + 4, 3)
    path = preview(two_parts, tmp_path / "preview.png", size=64)
    with Image.open(path) as png:
        assert png.size == (140, 140)
        assert np.any(np.asarray(png.convert("RGB")) != BACKGROUND)
