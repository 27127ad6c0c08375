import numpy as np
import pytest
import trimesh

from gfx.mesh import MeshError, Part, PartMesh, load_part_mesh
from gfx.mesh.structures import DEFAULT_MAX_FACES, edge_counts, label_from_name, require_watertight

TETRA_V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
TETRA_F = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def test_packed_forms_index_the_same_triangles(two_parts):
    packed = two_parts.verts_packed()[two_parts.faces_packed()]
    listed = np.concatenate(
        [v[f] for v, f in zip(two_parts.verts_list(), two_parts.faces_list(), strict=True)]
    )
    np.testing.assert_array_equal(packed, listed)
    counts = np.bincount(two_parts.face_parts_packed())
    assert counts.tolist() == [len(p.faces) for p in two_parts]
    assert two_parts.names == ["seat", "leg_0"] and two_parts.labels == ["seat", "leg"]
    assert two_parts["leg_0"].label == "leg"
    assert two_parts.colors.tolist() == [[220, 40, 40, 255], [40, 200, 40, 255]]


def test_boxes_and_normalization(two_parts):
    np.testing.assert_allclose(two_parts.boxes()[0], [0, 0.4, 0, 1.6, 0.2, 1.2], atol=1e-6)
    normalized = two_parts.normalized()
    lo, hi = normalized.bounds()
    assert np.all(lo >= -1 - 1e-6) and np.all(hi <= 1 + 1e-6)
    assert (hi - lo).max() == pytest.approx(2.0, abs=1e-5)
    np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-6)


def test_arrays_are_converted_and_read_only():
    part = Part("p", "p", TETRA_V, TETRA_F.astype(np.int32))
    assert part.vertices.dtype == np.float32 and part.faces.dtype == np.int64
    with pytest.raises(ValueError):
        part.vertices[0, 0] = 5


@pytest.mark.parametrize(
    ("vertices", "faces", "message"),
    [
        (TETRA_V, np.zeros((0, 3), int), "is empty"),
        (np.where(np.arange(12).reshape(4, 3) == 4, np.nan, TETRA_V), TETRA_F, "1 vertices with NaN or inf"),
        (np.where(np.arange(12).reshape(4, 3) == 0, np.inf, TETRA_V), TETRA_F, "NaN or inf"),
        (TETRA_V, np.array([[0, 1, 7]]), "face index 7 is out of range for 4 vertices"),
        (TETRA_V, np.array([[0, -1, 2]]), "face index -1 is out of range"),
        (TETRA_V, np.array([[0, 1, 2, 3]]), "must be (F, 3) triangles"),
        (TETRA_V[:, :2], TETRA_F, "vertices must be (V, 3)"),
    ],
)
def test_malformed_arrays_raise_clear_errors(vertices, faces, message):
    with pytest.raises(MeshError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Part("bad_part", "part", vertices, faces)


def test_face_limit_default_and_configurable():
    too_many = np.zeros((DEFAULT_MAX_FACES + 1, 3), dtype=np.int64)
    with pytest.raises(MeshError, match=r"2000001 faces; the limit is 2000000 \(max_faces\)"):
        Part("huge", "part", TETRA_V, too_many)
    with pytest.raises(MeshError, match="the limit is 3"):
        Part("p", "p", TETRA_V, TETRA_F, max_faces=3)
    parts = [Part(f"p{i}", "p", TETRA_V, TETRA_F) for i in range(2)]
    with pytest.raises(MeshError, match="mesh has 8 faces; the limit is 5"):
        PartMesh(parts, max_faces=5)


def test_names_must_be_unique_and_without_spaces():
    with pytest.raises(MeshError, match="repeated: a"):
        PartMesh([Part("a", "x", TETRA_V, TETRA_F), Part("a", "x", TETRA_V, TETRA_F)])
    with pytest.raises(MeshError, match="contains whitespace"):
        Part("left leg", "leg", TETRA_V, TETRA_F)
    with pytest.raises(MeshError, match="at least one part"):
        PartMesh([])


def test_manifold_checks():
    closed = Part("tetra", "p", TETRA_V, TETRA_F)
    require_watertight(closed)
    assert edge_counts(TETRA_F) == (0, 0)
    open_surface = Part("open", "p", TETRA_V, TETRA_F[:3])
    with pytest.raises(MeshError, match="is not closed: 3 edges belong to a single face"):
        require_watertight(open_surface)
    fin = np.vstack([TETRA_V, [[1, 1, 0]]])  # a fifth triangle on edge (1, 2): three faces share it
    with pytest.raises(MeshError, match="non-manifold: 1 edges are shared by more than two faces"):
        require_watertight(Part("fin", "p", fin, np.vstack([TETRA_F, [[1, 4, 2]]])))


def test_load_rejects_non_manifold_files_on_request(tmp_path):
    fin = np.vstack([TETRA_V, [[1, 1, 0]]])
    path = tmp_path / "fin.ply"
    trimesh.Trimesh(fin, np.vstack([TETRA_F, [[1, 4, 2]]]), process=False).export(path)
    assert len(load_part_mesh(path)) == 1
    with pytest.raises(MeshError, match="non-manifold"):
        load_part_mesh(path, require_manifold=True)


def test_load_errors_name_the_problem(tmp_path):
    step = tmp_path / "model.step"
    step.write_bytes(b"ISO-10303-21;\n")
    with pytest.raises(
        MeshError, match=r"unsupported file type '\.step'; use one of \.glb, \.gltf, \.obj, \.ply, \.stl"
    ):
        load_part_mesh(step)
    empty_stl = tmp_path / "model.stl"
    empty_stl.write_bytes(b"solid x\nendsolid x\n")
    with pytest.raises(MeshError, match="model.stl contains no triangle meshes"):
        load_part_mesh(empty_stl)
    garbage = tmp_path / "broken.glb"
    garbage.write_bytes(b"this is not a glb file")
    with pytest.raises(MeshError, match="could not read broken.glb as GLB"):
        load_part_mesh(garbage)
    with pytest.raises(MeshError, match="no such mesh file"):
        load_part_mesh(tmp_path / "missing.obj")
    points = tmp_path / "cloud.ply"
    trimesh.PointCloud(TETRA_V).export(points)
    with pytest.raises(MeshError, match="cloud.ply contains no triangle meshes"):
        load_part_mesh(points)


def test_load_reports_bad_geometry_with_the_file_name(tmp_path):
    path = tmp_path / "broken.obj"  # one object: trimesh names the part after the file
    path.write_text("o thing\nv 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n")
    with pytest.raises(MeshError, match="broken.obj: broken has 1 vertices with NaN or inf"):
        load_part_mesh(path)
    empty = tmp_path / "empty.obj"
    empty.write_text("o thing\n")
    with pytest.raises(MeshError, match="empty.obj"):
        load_part_mesh(empty)


def test_load_face_limit(tmp_path, two_parts):
    path = two_parts.export(tmp_path / "m.glb")
    with pytest.raises(MeshError, match="the limit is 10"):
        load_part_mesh(path, max_faces=10)


def test_foreign_glb_labels_come_from_node_names(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), node_name="wheel_3", geom_name="g")
    scene.add_geometry(trimesh.creation.box(), node_name="Front Door", geom_name="h")
    path = tmp_path / "foreign.glb"
    path.write_bytes(scene.export(file_type="glb"))
    mesh = load_part_mesh(path)
    assert sorted(mesh.names) == ["Front_Door", "wheel_3"] and mesh["wheel_3"].label == "wheel"
    assert label_from_name("seat") == "seat" and label_from_name("Leg.001") == "Leg"


def _same_parts(a: PartMesh, b: PartMesh) -> None:
    assert a.names == b.names and a.labels == b.labels
    np.testing.assert_array_equal(a.colors, b.colors)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.vertices, y.vertices, atol=1e-6)
        np.testing.assert_array_equal(x.faces, y.faces)


def test_trimesh_round_trip_keeps_names_labels_and_colours(two_parts):
    scene = two_parts.to_trimesh()
    assert isinstance(scene, trimesh.Scene) and sorted(scene.geometry) == ["leg_0", "seat"]
    assert scene.geometry["leg_0"].metadata["extras"]["label"] == "leg"
    _same_parts(PartMesh.from_trimesh(scene), two_parts)
    _same_parts(load_part_mesh(scene), two_parts)
    moved = two_parts.to_trimesh()
    moved.graph.update("seat", matrix=trimesh.transformations.translation_matrix([0, 0, 2]))
    np.testing.assert_allclose(PartMesh.from_trimesh(moved)["seat"].vertices,
                               two_parts["seat"].vertices + [0, 0, 2], atol=1e-6)


def test_a_trimesh_or_an_stl_file_is_one_part(tmp_path):
    box = trimesh.creation.box()
    mesh = PartMesh.from_trimesh(box, name="lid_1")
    assert mesh.names == ["lid_1"] and mesh.labels == ["lid"] and mesh.num_faces == 12
    assert load_part_mesh(box, require_manifold=True).names == ["part"]
    path = tmp_path / "crate.stl"
    path.write_bytes(box.export(file_type="stl"))
    loaded = load_part_mesh(path, require_manifold=True)
    assert loaded.names == ["crate"] and loaded.num_faces == 12
    with pytest.raises(MeshError, match="expected a trimesh.Trimesh or trimesh.Scene, not str"):
        PartMesh.from_trimesh("crate.stl")
    with pytest.raises(MeshError, match="the limit is 10"):
        load_part_mesh(box, max_faces=10)
