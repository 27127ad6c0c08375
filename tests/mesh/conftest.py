"""Small closed meshes for the mesh tests (trimesh primitives, centred in [-1, 1]^3)."""

import numpy as np
import pytest
import trimesh

from gfx.mesh import Part, PartMesh


def primitive(name: str) -> trimesh.Trimesh:
    """A closed primitive that fits in [-1, 1]^3."""
    return {
        "box": lambda: trimesh.creation.box((1.2, 0.6, 1.4)),
        "cylinder": lambda: trimesh.creation.cylinder(0.45, 1.3, sections=32),
        "sphere": lambda: trimesh.creation.icosphere(3, 0.75),
        "torus": lambda: trimesh.creation.torus(0.6, 0.2, 48, 24),
    }[name]()


@pytest.fixture
def two_parts() -> PartMesh:
    """A red box 'seat' and a green cylinder 'leg' below it, touching."""
    box = trimesh.creation.box((1.6, 0.2, 1.2))
    box.apply_translation([0, 0.4, 0])
    leg = trimesh.creation.cylinder(0.1, 1.0, sections=16, segment=np.array([[0, -0.7, 0], [0, 0.3, 0]]))
    return PartMesh(
        [
            Part("seat", "seat", box.vertices, box.faces, (220, 40, 40)),
            Part("leg_0", "leg", leg.vertices, leg.faces, (40, 200, 40)),
        ]
    )
