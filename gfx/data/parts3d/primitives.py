"""Primitive meshes of the part dataset (metres-like units, +y up); each is closed and outward-oriented."""

from __future__ import annotations

import math

import numpy as np


def closed(mesh):
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def box(center, size, rotation=None):
    import trimesh

    transform = np.eye(4)
    if rotation is not None:
        transform[:3, :3] = rotation
    transform[:3, 3] = center
    return trimesh.creation.box(extents=np.asarray(size, dtype=np.float64), transform=transform)


def rod(p0, p1, radius, sections=12):
    """A cylinder between two points."""
    import trimesh

    return closed(
        trimesh.creation.cylinder(radius, segment=np.array([p0, p1], dtype=np.float64), sections=sections)
    )


def disk(center, radius, height, axis="y", sections=24):
    """A cylinder of `height` along `axis`, centred on `center`."""
    center = np.asarray(center, dtype=np.float64)
    offset = np.eye(3)["xyz".index(axis)] * height / 2
    return rod(center - offset, center + offset, radius, sections)


def ellipsoid(center, radii):
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    mesh.vertices = mesh.vertices * np.asarray(radii, dtype=np.float64) + np.asarray(center, dtype=np.float64)
    return mesh


def sphere(center, radius):
    return ellipsoid(center, [radius] * 3)


def capsule(p0, p1, radius):
    import trimesh

    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    mesh = trimesh.creation.capsule(height=length, radius=radius, count=[12, 12])
    transform = trimesh.geometry.align_vectors([0, 0, 1], axis / length)
    transform[:3, 3] = (p0 + p1) / 2
    mesh.apply_transform(transform)
    return mesh


def lathe(profile, center=(0.0, 0.0, 0.0), sections=28):
    """Revolve a closed (radius, height) profile around the vertical axis through `center`."""
    import trimesh

    profile = np.asarray(profile, dtype=np.float64)
    if not np.allclose(profile[0], profile[-1]) and not (profile[0, 0] == 0 and profile[-1, 0] == 0):
        profile = np.vstack([profile, profile[:1]])
    mesh = trimesh.creation.revolve(profile, sections=sections)
    mesh.vertices = mesh.vertices[:, [0, 2, 1]] * [1, 1, -1] + np.asarray(center)  # z-up -> y-up
    return closed(mesh)


def tube(path, radius, sections=10):
    """A circle of `radius` swept along a polyline (N, 3), with flat caps."""
    import trimesh

    path = np.asarray(path, dtype=np.float64)
    tangents = np.gradient(path, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    seed = np.cross(tangents[0], [0.0, 1.0, 0.0] if abs(tangents[0, 1]) < 0.9 else [1.0, 0.0, 0.0])
    normals = [seed / np.linalg.norm(seed)]
    for t in tangents[1:]:  # parallel transport keeps the rings from twisting
        n = normals[-1] - t * np.dot(normals[-1], t)
        normals.append(n / np.linalg.norm(n))
    normals = np.array(normals)
    binormals = np.cross(tangents, normals)
    angles = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    rings = path[:, None] + radius * (
        np.cos(angles)[None, :, None] * normals[:, None] + np.sin(angles)[None, :, None] * binormals[:, None]
    )
    n, s = len(path), sections
    vertices = np.vstack([rings.reshape(-1, 3), path[0], path[-1]])
    faces = []
    for i in range(n - 1):
        for j in range(s):
            a, b, c, d = i * s + j, i * s + (j + 1) % s, (i + 1) * s + j, (i + 1) * s + (j + 1) % s
            faces += [[a, b, d], [a, d, c]]
    for j in range(s):
        faces.append([n * s, (j + 1) % s, j])
        faces.append([n * s + 1, (n - 1) * s + j, (n - 1) * s + (j + 1) % s])
    return closed(trimesh.Trimesh(vertices, np.array(faces), process=False))


def axis_rotation(axis: str, degrees: float) -> np.ndarray:
    """(3, 3) rotation about a coordinate axis."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]
