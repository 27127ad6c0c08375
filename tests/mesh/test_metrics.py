import math

import numpy as np
import pytest
import trimesh

from gfx.mesh import Part, PartMesh
from gfx.mesh.metrics import (
    chamfer_l1,
    fscore,
    inter_part_iou,
    mesh_metrics,
    part_metrics,
    point_metrics,
    size_bucket,
    summarize_by_bucket,
    volume_iou,
)

LATTICE = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"), -1).reshape(-1, 3)  # spacing 1


def test_identical_points_score_perfectly():
    scores = point_metrics(LATTICE, LATTICE)
    assert scores["chamfer"] == 0.0
    assert scores["f@0.02"] == scores["f@0.05"] == scores["f@0.1"] == 1.0


def test_shifted_copy_has_known_scores():
    shifted = LATTICE + [0.03, 0.0, 0.0]  # every nearest neighbour is the shifted twin, 0.03 away
    scores = point_metrics(shifted, LATTICE)
    assert scores["chamfer_pred_to_gt"] == pytest.approx(0.03)
    assert scores["chamfer"] == pytest.approx(0.06) == chamfer_l1(shifted, LATTICE)
    assert scores["f@0.02"] == 0.0 and scores["f@0.05"] == 1.0
    assert fscore(shifted, LATTICE, 0.05) == 1.0


def test_fscore_precision_recall_asymmetry():
    pred = LATTICE[:32]  # half the points: precision 1, recall 0.5 -> F = 2/3
    assert fscore(pred, LATTICE, 0.1) == pytest.approx(2 / 3)
    # the 16 points with x=2 are 1 away, the 16 with x=3 are 2 away
    assert point_metrics(pred, LATTICE)["chamfer_gt_to_pred"] == pytest.approx((16 * 1 + 16 * 2) / 64)


def test_mesh_metrics_identical_and_shifted(two_parts):
    assert mesh_metrics(two_parts, two_parts, n_points=2000)["chamfer"] == 0.0
    moved = PartMesh([Part(p.name, p.label, p.vertices + [0.0, 0.0, 0.5], p.faces) for p in two_parts])
    scores = mesh_metrics(moved, two_parts, n_points=2000)
    assert scores["f@0.1"] < 0.9 and scores["chamfer"] > 0.1


def test_volume_iou():
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[:2], b[1:3] = True, True
    assert volume_iou(a, b) == pytest.approx(1 / 3)
    assert volume_iou(a, a) == 1.0 and volume_iou(np.zeros_like(a), np.zeros_like(a)) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        volume_iou(a, a[:2])
    assert inter_part_iou(np.stack([a, b])) == pytest.approx(1 / 3)
    assert inter_part_iou(np.stack([a, ~a])) == 0.0


def test_size_buckets_by_box_diagonal():
    assert [size_bucket(d) for d in (0.0, 0.29, 0.3, 0.99, 1.0, 5.0)] == [
        "small", "small", "medium", "medium", "large", "large"
    ]  # fmt: skip


def test_part_metrics_match_by_name_and_by_shape(two_parts):
    scores = part_metrics(two_parts, two_parts, n_points=1000)
    assert [s.name for s in scores] == ["seat", "leg_0"]
    assert all(s.chamfer == 0.0 and s.fscores["f@0.02"] == 1.0 for s in scores)
    assert [s.bucket for s in scores] == ["large", "large"]  # seat diagonal 2.01, leg 1.04
    renamed = PartMesh(
        [
            Part(n, "x", p.vertices, p.faces)
            for n, p in zip(["b", "a"], reversed(two_parts.parts), strict=True)
        ]
    )
    matched = part_metrics(renamed, two_parts, n_points=1000)
    assert [s.matched for s in matched] == ["a", "b"]  # Hungarian pairing by Chamfer
    assert all(s.chamfer == 0.0 for s in matched)


def test_missing_parts_score_zero_and_are_counted(two_parts):
    only_seat = PartMesh([two_parts["seat"]])
    box = trimesh.creation.box((0.1, 0.1, 0.1))
    gt = PartMesh([*two_parts.parts, Part("knob", "knob", box.vertices + 2.0, box.faces)])
    scores = part_metrics(only_seat, gt, n_points=500)
    assert scores[1].matched is None and math.isnan(scores[1].chamfer) and scores[1].fscores["f@0.1"] == 0.0
    assert scores[2].bucket == "small"
    summary = summarize_by_bucket(scores)
    assert summary["large"] == {
        "parts": 2, "missing": 1, "chamfer": 0.0, "f@0.02": 0.5, "f@0.05": 0.5, "f@0.1": 0.5
    }  # fmt: skip
    assert summary["small"]["missing"] == 1 and math.isnan(summary["small"]["chamfer"])
    assert "medium" not in summary
