"""Headless previews of part meshes: a vectorized numpy z-buffer rasterizer, no GPU and no display.

Camera: orthographic, looking at the centre of the mesh's bounding box from `View(azimuth,
elevation)` in degrees; +y is up (glTF), azimuth 0 looks from +z, azimuth 90 from +x. Every view of
one mesh uses the same scale (the mesh's bounding sphere fills 95% of the image), so views compare.
Shading is flat Lambert (two-sided) under a light near the camera, in each part's colour.

`cover_triangles` (2D scan conversion of many triangles at once) is shared with the numpy voxelizer.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gfx.files import write_bytes
from gfx.mesh.structures import PartMesh

DEFAULT_SIZE = 256
BACKGROUND = (255, 255, 255)
AMBIENT = 0.35
_MAX_PAIRS = 4_000_000


@dataclass(frozen=True)
class View:
    """A camera direction: azimuth around +y and elevation above the xz plane, in degrees."""

    azimuth: float = 30.0
    elevation: float = 20.0


DEFAULT_VIEWS = (View(30, 20), View(120, 20), View(210, 20), View(300, 50))
"""Front-left, right, back and a high view: what a contact sheet shows."""


def ragged_ranges(counts: np.ndarray, max_total: int = _MAX_PAIRS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Enumerate `range(counts[k])` for every k at once, in chunks of about `max_total` entries.

    Args:
        counts: (K,) int, non-negative.
        max_total: bound on the entries of one chunk (an item with more still comes whole).

    Yields:
        item: (N,) int64 index k of each entry; local: (N,) int64 its position in range(counts[k]).
    """
    counts = np.asarray(counts, dtype=np.int64)
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + max_total, "right")), start + 1)
        sel = np.arange(start, stop)
        start = stop
        sel = sel[counts[sel] > 0]
        if len(sel):
            item = np.repeat(sel, counts[sel])
            yield item, np.arange(len(item)) - np.repeat(np.cumsum(counts[sel]) - counts[sel], counts[sel])


def cover_triangles(
    xy: np.ndarray, width: int, height: int, max_pairs: int = _MAX_PAIRS
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Find the sample points (ix + 0.5, iy + 0.5) inside each 2D triangle, in chunks.

    Args:
        xy: (F, 3, 2) float triangle corners in sample units (sample (ix, iy) sits at (ix + .5, iy + .5)).
        width, height: number of samples along x and y.
        max_pairs: bound on candidate (triangle, sample) pairs held in memory at once.

    Yields:
        tri: (N,) int64 triangle index; ix, iy: (N,) int64 sample indices; bary: (N, 3) float64
        barycentric weights of the three corners. Triangles of zero area are skipped; a sample on
        a shared edge may be reported for both triangles.
    """
    x, y = xy[..., 0], xy[..., 1]
    i0 = np.clip(np.ceil(x.min(1) - 0.5), 0, width).astype(np.int64)
    i1 = np.clip(np.floor(x.max(1) - 0.5), -1, width - 1).astype(np.int64)
    j0 = np.clip(np.ceil(y.min(1) - 0.5), 0, height).astype(np.int64)
    j1 = np.clip(np.floor(y.max(1) - 0.5), -1, height - 1).astype(np.int64)
    ni, nj = np.maximum(i1 - i0 + 1, 0), np.maximum(j1 - j0 + 1, 0)
    for tri, local in ragged_ranges(ni * nj, max_pairs):
        ix, iy = i0[tri] + local // nj[tri], j0[tri] + local % nj[tri]
        px, py = ix + 0.5, iy + 0.5
        ax, ay, bx, by, cx, cy = x[tri, 0], y[tri, 0], x[tri, 1], y[tri, 1], x[tri, 2], y[tri, 2]
        w0 = (bx - px) * (cy - py) - (by - py) * (cx - px)
        w1 = (cx - px) * (ay - py) - (cy - py) * (ax - px)
        w2 = (ax - px) * (by - py) - (ay - py) * (bx - px)
        area = w0 + w1 + w2
        inside = (area != 0) & (((w0 >= 0) & (w1 >= 0) & (w2 >= 0)) | ((w0 <= 0) & (w1 <= 0) & (w2 <= 0)))
        bary = np.stack([w0[inside], w1[inside], w2[inside]], axis=1) / area[inside, None]
        yield tri[inside], ix[inside], iy[inside], bary


def camera_basis(view: View) -> np.ndarray:
    """(3, 3) rows: right, up, forward (from the camera into the scene) in the object frame."""
    az, el = np.radians(view.azimuth), np.radians(view.elevation)
    eye = np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    forward = -eye
    world_up = np.array([0.0, 1.0, 0.0]) if abs(eye[1]) < 0.999 else np.array([0.0, 0.0, -np.sign(eye[1])])
    right = np.cross(forward, world_up)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(right, forward), forward])


def rasterize(
    vertices: np.ndarray, faces: np.ndarray, view: View = View(), size: int = DEFAULT_SIZE
) -> np.ndarray:
    """The visible face at each pixel.

    Args:
        vertices: (V, 3) float; faces: (F, 3) int.
        view: camera direction.
        size: image side in pixels.

    Returns:
        (size, size) int64 face index, -1 where no face is seen. Row 0 is the top of the image.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    center = (vertices.min(0) + vertices.max(0)) / 2
    radius = max(float(np.linalg.norm(vertices - center, axis=1).max()), 1e-9)
    camera = (vertices - center) @ camera_basis(view).T  # (V, 3): right, up, depth
    scale = 0.95 * size / 2 / radius
    screen = np.stack([size / 2 + camera[:, 0] * scale, size / 2 - camera[:, 1] * scale], axis=1)
    depth = camera[:, 2]
    faces = np.asarray(faces)
    best_depth = np.full(size * size, np.inf)
    best_face = np.full(size * size, -1, dtype=np.int64)
    for tri, ix, iy, bary in cover_triangles(screen[faces], size, size):
        z = np.einsum("nk,nk->n", bary, depth[faces[tri]])
        pixel = iy * size + ix
        order = np.lexsort((z, pixel))
        pixel, z, tri = pixel[order], z[order], tri[order]
        first = np.ones(len(pixel), dtype=bool)
        first[1:] = pixel[1:] != pixel[:-1]
        pixel, z, tri = pixel[first], z[first], tri[first]
        closer = z < best_depth[pixel]
        best_depth[pixel[closer]] = z[closer]
        best_face[pixel[closer]] = tri[closer]
    return best_face.reshape(size, size)


def render(
    mesh: PartMesh, view: View = View(), size: int = DEFAULT_SIZE, background: Sequence[int] = BACKGROUND
) -> np.ndarray:
    """A shaded image of `mesh`, each part in its colour.

    Returns:
        (size, size, 3) uint8 RGB.
    """
    image, _ = _render(mesh, view, size, background)
    return image


def render_part_ids(mesh: PartMesh, view: View = View(), size: int = DEFAULT_SIZE) -> np.ndarray:
    """Which part is seen at each pixel: (size, size) int64 part index, -1 for background."""
    face = rasterize(mesh.verts_packed(), mesh.faces_packed(), view, size)
    return np.where(face >= 0, mesh.face_parts_packed()[face], -1)


def _render(
    mesh: PartMesh, view: View, size: int, background: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = mesh.verts_packed().astype(np.float64), mesh.faces_packed()
    face = rasterize(vertices, faces, view, size)
    triangles = vertices[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    right, up, forward = camera_basis(view)
    light = -forward + 0.45 * up + 0.3 * right
    light /= np.linalg.norm(light)
    shade = AMBIENT + (1 - AMBIENT) * np.abs(normals @ light)  # (F,) two-sided Lambert
    face_colors = mesh.colors[mesh.face_parts_packed(), :3].astype(np.float64) * shade[:, None]
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = np.asarray(background, dtype=np.uint8)
    seen = face >= 0
    image[seen] = np.clip(np.round(face_colors[face[seen]]), 0, 255).astype(np.uint8)
    return image, face


def render_views(
    mesh: PartMesh, views: Sequence[View] = DEFAULT_VIEWS, size: int = DEFAULT_SIZE, background=BACKGROUND
) -> list[np.ndarray]:
    """`render` from each view: a list of (size, size, 3) uint8 images."""
    return [render(mesh, view, size, background) for view in views]


def contact_sheet(
    images: Sequence[np.ndarray], columns: int | None = None, pad: int = 4, background=BACKGROUND
) -> np.ndarray:
    """Tile equally sized (H, W, 3) images into one grid image, `columns` per row (default: all in one row)."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    h, w = images[0].shape[:2]
    columns = columns or len(images)
    rows = -(-len(images) // columns)
    sheet = np.empty((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), dtype=np.uint8)
    sheet[:] = np.asarray(background, dtype=np.uint8)
    for n, image in enumerate(images):
        r, c = divmod(n, columns)
        sheet[
            pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w
        ] = image
    return sheet


def png_bytes(image: np.ndarray) -> bytes:
    """An (H, W, 3|4) uint8 image as PNG file bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an (H, W, 3|4) uint8 image as PNG, atomically."""
    write_bytes(path, png_bytes(image))
    return Path(path)


def preview_image(mesh: PartMesh, views: Sequence[View] = DEFAULT_VIEWS, size: int = DEFAULT_SIZE) -> np.ndarray:
    """`mesh` rendered from `views`, side by side (2 x 2 for four views): (H, W, 3) uint8."""
    return contact_sheet(render_views(mesh, views, size), 2 if len(views) == 4 else None)


def preview(
    mesh: PartMesh, path: str | os.PathLike, views: Sequence[View] = DEFAULT_VIEWS, size: int = DEFAULT_SIZE
) -> Path:
    """Render `mesh` from `views` and write them side by side as one PNG (the multi-view preview)."""
    return write_png(path, preview_image(mesh, views, size))
