"""The procedural part dataset: seeded plain records, splits, and the on-disk build (`gfx.recipes.parts3d`)."""

import gzip
import hashlib
import json

import numpy as np
import pytest
import trimesh

from gfx.data.parts3d import CATEGORIES, LABELS, MAX_PARTS, generate, iter_objects, split_of
from gfx.mesh import load_part_mesh
from gfx.mesh.parts import part_grids
from gfx.mesh.structures import edge_counts
from gfx.recipes.parts3d import build_parts, load_part_grids, part_mesh

N = 12  # objects per category in the sweeps below


@pytest.fixture(scope="module")
def objects():
    return {c: [generate(c, i) for i in range(N)] for c in CATEGORIES}


def test_at_least_eight_categories():
    assert len(CATEGORIES) >= 8


def test_same_seed_same_object():
    a, b = generate("chair", 5), generate("chair", 5)
    assert a.caption == b.caption and a.names == b.names and a.params == b.params
    for p, q in zip(a.parts, b.parts, strict=True):
        np.testing.assert_array_equal(p.vertices, q.vertices)
        np.testing.assert_array_equal(p.faces, q.faces)
    assert not np.array_equal(generate("chair", 6).parts[0].vertices[:10], a.parts[0].vertices[:10])


def object_digest(obj) -> str:
    """A hash of everything an object is: id, caption, hidden parts, parameters and every part's arrays."""
    h = hashlib.sha256(json.dumps([obj.id, obj.caption, list(obj.hidden), obj.params], sort_keys=True).encode())
    for p in obj.parts:
        h.update(json.dumps([p.name, p.label, [int(c) for c in p.color]]).encode())
        h.update(np.ascontiguousarray(p.vertices, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(p.faces, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(
    "category, index, digest",
    [("chair", 0, "e03f61550665b80e"), ("table", 3, "7fdfa5975ef9e752"), ("lamp", 7, "32e0b836109300be"),
     ("toy_car", 2, "dd7a5dd7a0f2b7b4"), ("plane", 5, "07d7d885df96b955"), ("mug", 4, "91352c6801732aaa"),
     ("bed", 9, "ce414118fd13a35d"), ("shelf", 1, "8f5ff91d974750ba")],
)  # fmt: skip
def test_objects_are_the_ones_the_models_were_trained_on(category, index, digest):
    """Digests recorded when objects were still built as `PartMesh`es (before the records refactor)."""
    assert object_digest(generate(category, index)) == digest


def test_records_make_the_same_part_mesh():
    obj = generate("lamp", 3)
    mesh = part_mesh(obj)
    assert mesh.names == obj.names and mesh.labels == obj.labels
    np.testing.assert_array_equal(mesh.boxes(), obj.boxes)
    for part, record in zip(mesh, obj.parts, strict=True):
        np.testing.assert_array_equal(part.vertices, record.vertices)
        assert part.color == record.color


def test_objects_are_well_formed(objects):
    for category, items in objects.items():
        for obj in items:
            mesh = part_mesh(obj)
            assert 2 <= len(mesh) <= MAX_PARTS, obj.id
            assert set(mesh.labels) <= set(LABELS)
            lo, hi = mesh.bounds()
            assert np.all(lo >= -1 - 1e-5) and np.all(hi <= 1 + 1e-5)
            assert (hi - lo).max() == pytest.approx(2.0, abs=1e-4)
            for part in mesh:
                assert edge_counts(part.faces) == (0, 0), (obj.id, part.name)  # closed, for solid voxels
            sizes = obj.boxes[:, 3:].astype(np.float64)
            half_area = sizes[:, 0] * sizes[:, 1] + sizes[:, 1] * sizes[:, 2] + sizes[:, 2] * sizes[:, 0]
            assert np.all(np.diff(half_area) <= 1e-6), obj.id  # FullPart order: largest first
            assert set(obj.hidden) <= set(mesh.names)
            assert obj.category == category and obj.split == split_of(obj.id)


def test_part_sizes_span_a_wide_range(objects):
    ratios = {}
    for category, items in objects.items():
        diagonals = [np.linalg.norm(o.boxes[:, 3:], axis=1) for o in items]
        ratios[category] = [d.max() / d.min() for d in diagonals]
        assert max(ratios[category]) < 80, category
    assert max(max(r) for r in ratios.values()) >= 30
    assert sum(max(r) >= 15 for r in ratios.values()) >= 5


def test_thin_repeated_and_hidden_parts(objects):
    labels = {c: {label for o in items for label in o.labels} for c, items in objects.items()}
    assert {"seat", "leg", "slat", "backrest", "screw"} <= labels["chair"] and "leg" in labels["table"]
    assert {"bulb", "shade"} <= labels["lamp"] and {"wheel", "axle"} <= labels["toy_car"]
    assert all("bulb" in o.hidden for o in objects["lamp"])
    assert all(sum(label == "wheel" for label in o.labels) >= 4 for o in objects["toy_car"])
    thinnest = min(o.boxes[:, 3:].min() for o in objects["shelf"])
    assert thinnest < 0.05  # boards and panels thinner than a 32^3 cell of the object grid


def test_captions_describe_the_object(objects):
    nouns = {"chair": "chair", "table": "table", "lamp": "lamp", "mug": "mug", "shelf": "bookshelf", "bed": "bed",
             "toy_car": "toy car", "plane": "toy plane"}  # fmt: skip
    for category, items in objects.items():
        assert all(nouns[category] in o.caption for o in items), category
        assert len({o.caption for o in items}) >= N // 2, category
    chairs = [o for o in objects["chair"] if not o.params["swivel"]]
    assert all("four" in o.caption and "legs" in o.caption for o in chairs)


def test_splits_are_deterministic_and_roughly_90_5_5():
    ids = [f"chair-{i:06d}" for i in range(2000)]
    splits = [split_of(i) for i in ids]
    assert splits == [split_of(i) for i in ids]
    counts = {s: splits.count(s) for s in ("train", "val", "test")}
    assert 1700 < counts["train"] < 1900 and 50 < counts["val"] < 150 and 50 < counts["test"] < 150
    test_objects = list(iter_objects(30, split="test", categories=["mug"]))
    assert test_objects and all(o.split == "test" for o in test_objects)
    with pytest.raises(KeyError, match="unknown part category 'sofa'; valid: chair"):
        generate("sofa", 0)


def test_glb_has_one_named_non_empty_node_per_part(tmp_path, objects):
    obj = objects["chair"][0]
    path = part_mesh(obj).export(tmp_path / "chair.glb")
    scene = trimesh.load(path)
    assert sorted(scene.graph.nodes_geometry) == sorted(obj.names)
    assert all(len(scene.geometry[scene.graph[n][1]].faces) > 0 for n in scene.graph.nodes_geometry)
    assert load_part_mesh(path).labels == obj.labels


def test_build_parts_writes_records_grids_and_glbs(tmp_path):
    calls = []
    manifest = build_parts(tmp_path, 3, lambda c, d, t: calls.append((c, d, t)), categories=["mug", "lamp"],
                           resolution=8)  # fmt: skip
    assert calls[-1] == (3, 3, "lamp") and len(calls) == 6
    assert sum(sum(c.values()) for c in manifest["counts"].values()) == 6
    records = [json.loads(line) for line in gzip.open(tmp_path / "objects.jsonl.gz", "rt")]
    assert [r["id"] for r in records] == [f"mug-{i:06d}" for i in range(3)] + [
        f"lamp-{i:06d}" for i in range(3)
    ]
    assert all((tmp_path / "glb" / f"{r['id']}.glb").is_file() for r in records)
    by_split = {}
    for split in ("train", "val", "test"):
        by_split[split] = load_part_grids(tmp_path / f"grids_8_{split}.npz")
    train = by_split["train"]
    first = train["ids"][0]
    obj = generate(first.split("-")[0], int(first.split("-")[1]))
    k = len(obj.parts)
    assert train["offsets"][1] == k
    np.testing.assert_array_equal(train["grids"][:k], part_grids(part_mesh(obj), 8))
    np.testing.assert_allclose(train["boxes"][:k], obj.boxes)
    assert [LABELS[i] for i in train["labels"][:k]] == obj.labels
    assert json.loads((tmp_path / "manifest.json").read_text())["resolution"] == 8
