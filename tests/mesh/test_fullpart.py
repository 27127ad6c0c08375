import numpy as np
import pytest
import torch
import trimesh

from gfx.data.parts3d import CATEGORIES, LABELS
from gfx.mesh import PartMesh
from gfx.mesh.fullpart import FullPart, box_mask, ensure_nonempty, part_names
from gfx.mesh.layout_lm import EOS, LayoutTokenizer, prompt_counts
from gfx.mesh.part_field import PartField, PartFieldConfig
from gfx.mesh.parts import fragmented, from_box_frame, largest_component, to_box_frame
from gfx.mesh.voxels import cell_centers
from gfx.models import MODELS_DIR

SHIPPED = MODELS_DIR / "fullpart-mini"
BOXES = np.array(
    [[0.0, 0.5, 0.0, 1.6, 0.2, 1.2], [0.5, -0.3, 0.4, 0.1, 0.9, 0.1], [-0.5, -0.3, 0.4, 0.1, 0.9, 0.1]],
    dtype=np.float32,
)
LABEL_NAMES = ["seat", "leg", "leg"]
CHAIR_LABELS = tuple(sorted(LABELS.index(x) for x in ("seat", "leg", "backrest")))


@pytest.fixture(scope="module")
def tiny() -> FullPart:
    torch.manual_seed(0)
    allowed = [CHAIR_LABELS] + [tuple(range(len(LABELS)))] * (len(CATEGORIES) - 1)
    return FullPart.build("tiny", category_labels=allowed)


def tokenizer(**kwargs) -> LayoutTokenizer:
    return LayoutTokenizer(tuple(CATEGORIES), tuple(LABELS), **kwargs)


def test_layout_tokens_round_trip_within_a_bin():
    tok = tokenizer()
    ids = [LABELS.index(x) for x in LABEL_NAMES]
    tokens = tok.encode(0, BOXES, np.array(ids))
    assert tokens[0] == 1 and tokens[-1] == EOS and len(tokens) == 2 + 7 * 3 + 1
    category, boxes, labels = tok.decode(tokens)
    assert category == 0 and labels.tolist() == ids
    assert np.abs(boxes[:, :3] - BOXES[:, :3]).max() <= 1 / tok.center_bins + 1e-6  # half a bin of 2 / bins
    ratio = np.log(boxes[:, 3:] / BOXES[:, 3:])
    assert np.abs(ratio).max() <= np.log(2.0 / tok.min_size) / (tok.size_bins - 1) / 2 + 1e-6


def test_layout_grammar_keeps_category_labels_and_counts():
    tok = tokenizer(max_parts=2, category_labels=(CHAIR_LABELS,) * len(CATEGORIES))
    c = tok.constraint()
    allowed = lambda: set(tok._allowed(c.state))  # noqa: E731
    assert allowed() == {tok.category_start + k for k in range(len(CATEGORIES))}
    assert c.advance(tok.category_start)
    assert EOS not in allowed()  # at least one part
    assert allowed() == {tok.label_start + i for i in CHAIR_LABELS}
    assert not c.advance(tok.label_start + LABELS.index("wheel"))
    for _ in range(2):
        assert c.advance(tok.label_start + CHAIR_LABELS[0])
        for j in range(6):
            assert allowed() == set(range(tok.field_start(j), tok.field_start(j) + tok.field_bins(j)))
            assert c.advance(tok.field_start(j))
    assert allowed() == {EOS}  # max_parts reached
    assert c.advance(EOS) and c.is_done()


def test_prompt_counts_read_numbers_before_label_nouns():
    labels = tuple(LABELS)
    counts = prompt_counts("a pine chair with four splayed square legs, 2 pillows and three jet engines", labels)
    assert counts == {labels.index("leg"): 4, labels.index("pillow"): 2, labels.index("engine"): 3}
    assert prompt_counts("a chair with legs and one of six colours", labels) == {}  # no label within reach
    assert prompt_counts("a plane with two tail fins", labels) == {labels.index("tail_fin"): 2}


def test_layout_grammar_makes_exactly_the_asked_counts():
    leg, seat = LABELS.index("leg"), LABELS.index("seat")
    tok = tokenizer(max_parts=4, category_labels=(CHAIR_LABELS,) * len(CATEGORIES))
    c = tok.constraint({leg: 2, LABELS.index("wheel"): 3})  # wheels: not a chair label, dropped
    allowed = lambda: set(tok._allowed(c.state, ((leg, 2),)))  # noqa: E731

    def part(label):
        assert c.advance(tok.label_start + label)
        for j in range(6):
            assert c.advance(tok.field_start(j))

    assert c.advance(tok.category_start)
    part(seat)
    assert EOS not in allowed()  # two legs still missing
    part(leg)
    part(leg)
    assert tok.label_start + leg not in allowed() and EOS in allowed()  # exactly two
    part(seat)
    assert allowed() == {EOS}


def test_untrained_layout_model_still_writes_valid_layouts(tiny):
    layouts = tiny.layout.sample(["a chair", "a lamp", "a plane"], generator=torch.Generator().manual_seed(0))
    assert len(layouts) == 3
    for category, boxes, labels in layouts:
        assert category in CATEGORIES
        assert 1 <= len(boxes) <= 16 and boxes.shape == (len(boxes), 6) and labels.shape == (len(boxes),)
        assert np.isfinite(boxes).all() and (boxes[:, 3:] > 0).all()
        if category == list(CATEGORIES)[0]:
            assert set(labels.tolist()) <= set(CHAIR_LABELS)


def test_box_frame_round_trip():
    points = np.random.default_rng(0).uniform(-1, 1, (10, 3))
    np.testing.assert_allclose(to_box_frame(from_box_frame(points, BOXES[1]), BOXES[1]), points, atol=1e-9)
    corners = from_box_frame(np.array([[-1, -1, -1], [1, 1, 1]]), BOXES[1])
    np.testing.assert_allclose(corners, [BOXES[1, :3] - BOXES[1, 3:] / 2, BOXES[1, :3] + BOXES[1, 3:] / 2], atol=1e-6)


def test_part_field_probabilities_shape_and_condition():
    torch.manual_seed(0)
    field = PartField(PartFieldConfig.from_name("tiny", n_labels=len(LABELS))).eval()
    for block in field.blocks:
        torch.nn.init.normal_(block.modulation.weight, std=0.3)
    text = torch.randn(384)
    probs = field.probabilities(text, BOXES, [1, 2, 2])
    assert probs.shape == (3, 8, 8, 8) and probs.dtype == np.float32 and ((probs >= 0) & (probs <= 1)).all()
    assert not np.allclose(probs[0], probs[1])  # the label and box condition the field
    np.testing.assert_allclose(probs[1], field.probabilities(text, BOXES[1:2], [2])[0], atol=1e-6)
    full = field.probabilities(text, BOXES, [1, 2, 2], coarse=None)  # every cell evaluated
    points = torch.from_numpy(cell_centers(8).reshape(-1, 3).astype(np.float32))
    direct = torch.sigmoid(field(points[None], torch.tensor([2]), torch.from_numpy(BOXES[1:2]), text[None]))
    np.testing.assert_allclose(full[1].reshape(-1), direct[0].detach().numpy(), atol=1e-6)
    assert np.abs(probs - full).max() < 0.05  # coarse-to-fine differs only where the field is sure


def test_components_keep_the_largest_and_count_fragments():
    grid = np.zeros((8, 8, 8), bool)
    grid[1:4, 1:4, 1:4] = True
    assert not fragmented(grid)
    grid[6, 6, 6] = True  # 1 cell of 28: below 1% is noise, above is a fragment
    assert fragmented(grid, min_fraction=0.01) and not fragmented(grid, min_fraction=0.05)
    kept = largest_component(grid)
    assert kept.sum() == 27 and not kept[6, 6, 6]
    shell = np.zeros((7, 7, 7), bool)
    shell[1:6, 1:6, 1:6] = True
    shell[3, 3, 3] = False  # a cavity is filled
    assert largest_component(shell)[3, 3, 3]


def test_box_mask_covers_the_box_and_a_cell_around_it():
    mask = box_mask(np.array([0.0, 0.0, 0.0, 0.5, 0.5, 0.5]), 8)
    assert mask.sum() == 4**3  # 2 cells inside per axis, 1 of margin each side


def test_ensure_nonempty_keeps_every_part():
    probs = np.full((2, 4, 4, 4), 0.1, dtype=np.float32)
    probs[0, 1, 1, 1] = 0.9
    probs[1, 2, 2, 2] = 0.3
    kept = ensure_nonempty(probs)
    assert np.array_equal(kept[0], probs[0])
    assert (kept[1] > 0.5).sum() == 1 and kept[1, 2, 2, 2] > 0.5


def test_part_names_follow_the_dataset():
    assert part_names(["seat", "leg", "leg", "screw"]) == ["seat", "leg_0", "leg_1", "screw"]


def test_part_points_targets_match_the_grids():
    from gfx.recipes.fullpart_data import PartPoints, field_arrays

    arrays = field_arrays("train", 2, part_resolution=8, object_resolution=8, cache_dir=None)
    for frame in ("box", "object"):
        points = PartPoints(arrays, 4, 64, frame)
        rows = np.arange(4)
        batch = points.batch(np.random.default_rng(0), rows)
        grids = points.grids(rows)
        assert batch["points"].shape == (4, 64, 3) and batch["occupancy"].shape == (4, 64)
        cells = np.clip(((batch["points"].numpy() + 1) / 2 * 8).astype(int), 0, 7)
        expected = np.stack([g[c[:, 0], c[:, 1], c[:, 2]] for g, c in zip(grids, cells, strict=True)])
        np.testing.assert_array_equal(batch["occupancy"].numpy(), expected)
        assert 0 < batch["occupancy"].mean() < 1  # half the points sit on the surface band


def test_generate_gives_named_nonempty_parts_that_survive_glb(tiny, tmp_path):
    from gfx.mesh.api import generate

    mesh = generate("a red chair with four legs", seed=0, model=tiny)
    assert isinstance(mesh, PartMesh) and len(mesh) >= 1
    assert all(len(p.faces) > 0 and len(p.vertices) > 0 for p in mesh)
    assert len(set(mesh.names)) == len(mesh)
    scene = trimesh.load(mesh.export(tmp_path / "out.glb"))
    assert sorted(scene.graph.nodes_geometry) == sorted(mesh.names)
    assert all(len(scene.geometry[scene.graph[n][1]].faces) > 0 for n in mesh.names)
    with pytest.raises(ValueError, match="non-empty"):
        generate("  ", model=tiny)


def test_save_load_gives_identical_meshes(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "fp", dtype=None)
    loaded = FullPart.from_pretrained(tmp_path / "fp")
    a, b = tiny("a lamp", seed=4), loaded("a lamp", seed=4)
    assert a.labels == b.labels and a.mesh.names == b.mesh.names
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.mesh.verts_packed(), b.mesh.verts_packed())


def test_given_layout_is_used(tiny):
    result = tiny("a table", seed=1, boxes=BOXES, labels=LABEL_NAMES)
    assert result.mesh.names == ["seat", "leg_0", "leg_1"]
    for part, box in zip(result.mesh, BOXES, strict=True):  # each part stays in its box
        lo, hi = part.vertices.min(0), part.vertices.max(0)
        assert (lo >= box[:3] - box[3:] / 2 - 1e-4).all() and (hi <= box[:3] + box[3:] / 2 + 1e-4).all()


@pytest.mark.skipif(
    not (SHIPPED / "parts" / "config.json").is_file(), reason="models/fullpart-mini not trained"
)
def test_shipped_fullpart_loads_and_scores_in_range():
    from gfx.recipes.fullpart import evaluate_fullpart

    pipe = FullPart.from_pretrained(SHIPPED)
    result = evaluate_fullpart(pipe, limit=1, n_points=500)
    assert set(result["buckets"]) >= {"fullpart", "fullpart_oracle"}
    for frames in result["buckets"].values():
        for buckets in frames.values():
            for row in buckets.values():
                assert 0.0 <= row["f@0.05"] <= 1.0
    oracle = result["buckets"]["fullpart_oracle"]["object"]
    assert min(row["f@0.05"] for row in oracle.values()) > 0.5  # the per-part grids hold every part
    assert 0.0 <= result["layout"]["box_iou"] <= 1.0 and 0.0 <= result["fragment_rate"] <= 1.0


def test_generate_without_a_model_directory_says_how_to_get_one(tmp_path):
    from gfx.mesh.api import generate

    with pytest.raises(FileNotFoundError, match="gfx train fullpart"):
        generate("a chair", model=tmp_path / "missing")


@pytest.mark.skipif(
    not (SHIPPED / "parts" / "config.json").is_file(), reason="models/fullpart-mini not trained"
)
def test_shipped_generate_writes_a_glb_with_named_parts(tmp_path):
    from gfx.mesh.api import generate

    mesh = generate("a wooden chair with four legs and a slatted back", seed=0)
    scene = trimesh.load(mesh.export(tmp_path / "chair.glb"))
    assert sorted(scene.graph.nodes_geometry) == sorted(mesh.names)
    assert all(len(scene.geometry[scene.graph[n][1]].faces) > 0 for n in mesh.names)


def test_edit_replaces_one_part_and_keeps_the_others(tiny):
    from gfx.mesh.api import edit

    mesh = tiny("a table", seed=1, boxes=BOXES, labels=LABEL_NAMES).mesh.normalized()
    moved = PartMesh([p.transformed(3.0, np.array([5.0, 0.0, 0.0])) for p in mesh])  # any frame
    edited = edit(moved, part="seat", prompt="a chair with a round seat", model=tiny)
    assert sorted(edited.names) == sorted(moved.names)
    for name in ("leg_0", "leg_1"):
        np.testing.assert_array_equal(edited[name].vertices, moved[name].vertices)
    lo, hi = moved.bounds()
    assert (edited["seat"].vertices >= lo - 0.1).all() and (edited["seat"].vertices <= hi + 0.1).all()
    both_legs = edit(moved, part="leg", prompt="a chair with round legs", model=tiny)
    np.testing.assert_array_equal(both_legs["seat"].vertices, moved["seat"].vertices)
    with pytest.raises(ValueError, match="no part named or labelled 'wing'"):
        edit(moved, part="wing", prompt="a plane", model=tiny)


def test_generate_n_gives_a_list_of_meshes(tiny):
    from gfx.mesh.api import generate

    meshes = generate("a mug", seed=3, n=2, model=tiny)
    assert len(meshes) == 2 and all(isinstance(m, PartMesh) for m in meshes)
    assert meshes[1].names == generate("a mug", seed=4, model=tiny).names
