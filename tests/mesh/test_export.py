import numpy as np
import pytest
import trimesh

from gfx.mesh import MeshError, load_part_mesh
from gfx.mesh.export import EXPORTERS, export_mesh, get_exporter, to_glb


@pytest.mark.parametrize("file_type", sorted(EXPORTERS))
def test_round_trip_keeps_parts(tmp_path, two_parts, file_type):
    path = two_parts.export(tmp_path / f"object.{file_type}")
    loaded = load_part_mesh(path)
    assert loaded.names == two_parts.names
    assert loaded.labels == two_parts.labels
    assert loaded.colors.tolist() == two_parts.colors.tolist()
    for a, b in zip(loaded, two_parts, strict=True):
        np.testing.assert_array_equal(a.faces, b.faces)
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-6)


def test_glb_has_one_named_node_per_part_in_plain_trimesh(tmp_path, two_parts):
    path = tmp_path / "object.glb"
    path.write_bytes(to_glb(two_parts))
    scene = trimesh.load(path)
    assert sorted(scene.graph.nodes_geometry) == sorted(two_parts.names)
    for node in scene.graph.nodes_geometry:
        _, geometry = scene.graph[node]
        assert len(scene.geometry[geometry].faces) == len(two_parts[node].faces) > 0
    material = scene.geometry["seat"].visual.material
    assert list(material.baseColorFactor) == [220, 40, 40, 255]


def test_unknown_types_fail_with_the_valid_list(tmp_path, two_parts):
    with pytest.raises(MeshError, match="cannot export '.stl'; valid file types: glb, obj, ply"):
        two_parts.export(tmp_path / "object.stl")
    with pytest.raises(MeshError, match="has no extension"):
        export_mesh(two_parts, tmp_path / "object")
    assert get_exporter(".GLB") is EXPORTERS["glb"]
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_explicit_file_type_overrides_the_extension(tmp_path, two_parts):
    path = export_mesh(two_parts, tmp_path / "object.bin", file_type="ply")
    assert path.read_bytes().startswith(b"ply\n")
