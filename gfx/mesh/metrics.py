"""3D reconstruction metrics (conventions in docs/papers.md, 3D metrics).

Conventions, stated once and used everywhere:
- Shapes are compared in the frame of normalized objects, [-1, 1]^3 (`PartMesh.normalized`).
- Chamfer L1: `mean_p d(p, G) + mean_g d(g, P)`, the sum of the two mean *Euclidean* (not squared)
  nearest-neighbour distances, no 1/2 (3DShape2VecSet / PartCrafter). Both directions are reported too.
- F-score@tau: precision = share of P within tau of G, recall = share of G within tau of P,
  F = 2PR / (P + R); tau in (0.02, 0.05, 0.1). Distances are strict (< tau).
- Volume IoU on occupancy grids of the same frame: |A and B| / |A or B| (1.0 when both are empty).
- Part size: the diagonal of the part's box in the object frame. Buckets (`SIZE_BUCKETS`):
  small < 0.3 <= medium < 1.0 <= large. In a 64^3 grid over [-1, 1]^3 (cell 0.031) a small part
  spans under ~10 cells along its diagonal; in its own grid it spans the full 64.
- Per-part metrics pair predicted and ground-truth parts by name when the names agree, else by a
  Hungarian assignment on pairwise Chamfer. A ground-truth part without a partner scores F = 0 and
  Chamfer = NaN (`summarize_by_bucket` counts these as `missing` and averages Chamfer over the rest).
Nearest neighbours use scipy's cKDTree. Plain numpy/scipy, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from gfx.mesh.structures import PartMesh
from gfx.mesh.voxels import sample_surface

THRESHOLDS = (0.02, 0.05, 0.1)
SIZE_BUCKETS = (("small", 0.0, 0.3), ("medium", 0.3, 1.0), ("large", 1.0, math.inf))
"""(name, low, high): a part with box diagonal d (object frame) is in the bucket with low <= d < high."""
DEFAULT_POINTS = 10_000


def nearest_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euclidean distance from each source point to its nearest target point: (N,) float64."""
    from scipy.spatial import cKDTree

    distances, _ = cKDTree(np.asarray(target, dtype=np.float64)).query(
        np.asarray(source, dtype=np.float64), k=1
    )
    return distances


def point_metrics(
    pred: np.ndarray, gt: np.ndarray, thresholds: Sequence[float] = THRESHOLDS
) -> dict[str, float]:
    """Chamfer L1 and F-scores between two point sets.

    Args:
        pred: (N, 3) points on the predicted surface.
        gt: (M, 3) points on the ground-truth surface.
        thresholds: F-score distances tau.

    Returns:
        {"chamfer", "chamfer_pred_to_gt", "chamfer_gt_to_pred", "f@<tau>" for each tau}.
    """
    to_gt, to_pred = nearest_distances(pred, gt), nearest_distances(gt, pred)
    result = {
        "chamfer": float(to_gt.mean() + to_pred.mean()),
        "chamfer_pred_to_gt": float(to_gt.mean()),
        "chamfer_gt_to_pred": float(to_pred.mean()),
    }
    for tau in thresholds:
        precision, recall = float(np.mean(to_gt < tau)), float(np.mean(to_pred < tau))
        result[f"f@{tau:g}"] = (
            0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        )
    return result


def chamfer_l1(pred: np.ndarray, gt: np.ndarray) -> float:
    """Sum of the mean nearest-neighbour distances in both directions (see the module docstring)."""
    return float(nearest_distances(pred, gt).mean() + nearest_distances(gt, pred).mean())


def fscore(pred: np.ndarray, gt: np.ndarray, tau: float) -> float:
    """F-score at distance `tau` between two point sets (N, 3) and (M, 3)."""
    return point_metrics(pred, gt, (tau,))[f"f@{tau:g}"]


def mesh_metrics(
    pred: PartMesh, gt: PartMesh, n_points: int = DEFAULT_POINTS, seed: int = 0, thresholds=THRESHOLDS
) -> dict[str, float]:
    """`point_metrics` on `n_points` surface samples of each whole mesh (both already in the same frame).

    Both meshes are sampled with the same seed, so identical meshes score exactly Chamfer 0, F 1.
    """
    pred_points, _, _ = sample_surface(pred.verts_packed(), pred.faces_packed(), n_points, seed)
    gt_points, _, _ = sample_surface(gt.verts_packed(), gt.faces_packed(), n_points, seed)
    return point_metrics(pred_points, gt_points, thresholds)


def volume_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean occupancy grids of the same shape (1.0 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"occupancy grids differ in shape: {a.shape} vs {b.shape}")
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def inter_part_iou(grids: np.ndarray) -> float:
    """Mean IoU over pairs of part grids in one shared frame; lower means less overlap (PartCrafter).

    Args:
        grids: (K, R, R, R) bool, every part voxelized on the same object grid.
    """
    pairs = [volume_iou(grids[i], grids[j]) for i in range(len(grids)) for j in range(i + 1, len(grids))]
    return float(np.mean(pairs)) if pairs else 0.0


def size_bucket(diagonal: float, buckets=SIZE_BUCKETS) -> str:
    """The name of the size bucket of a part whose box diagonal is `diagonal`."""
    for name, low, high in buckets:
        if low <= diagonal < high:
            return name
    raise ValueError(f"no size bucket holds diagonal {diagonal}")


@dataclass(frozen=True)
class PartScore:
    """Metrics of one ground-truth part.

    Attributes:
        name, label: of the ground-truth part.
        diagonal: its box diagonal in the object frame; bucket: `size_bucket(diagonal)`.
        matched: the name of the predicted part paired with it, or None.
        chamfer: Chamfer L1 (NaN when unmatched); fscores: {"f@<tau>": value} (0 when unmatched).
    """

    name: str
    label: str
    diagonal: float
    bucket: str
    matched: str | None
    chamfer: float
    fscores: dict[str, float]

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def unmatched(cls, part, thresholds: Sequence[float]) -> PartScore:
        """The score of a ground-truth part no predicted part was paired with (F = 0, Chamfer NaN)."""
        diagonal = float(np.linalg.norm(np.asarray(part.box()[3:], np.float64)))
        return cls(part.name, part.label, diagonal, size_bucket(diagonal), None, math.nan,
                   {f"f@{t:g}": 0.0 for t in thresholds})


def part_metrics(
    pred: PartMesh,
    gt: PartMesh,
    n_points: int = 2_000,
    seed: int = 0,
    thresholds: Sequence[float] = THRESHOLDS,
    frame: str = "object",
) -> list[PartScore]:
    """Per-part Chamfer and F-scores of a predicted part mesh against ground truth.

    Args:
        pred, gt: part meshes in the same (object) frame.
        n_points: samples per part.
        thresholds: F-score distances.
        frame: "object" measures distances in the object frame; "part" first maps both parts through
            the ground-truth part's box frame scaled to [-1, 1]^3 (so small parts are judged at their
            own scale).

    Returns:
        One `PartScore` per ground-truth part, in `gt` order.
    """
    if frame not in ("object", "part"):
        raise ValueError(f"frame must be 'object' or 'part', got {frame!r}")
    gt_points = [sample_surface(p.vertices, p.faces, n_points, seed)[0] for p in gt]
    pred_points = [sample_surface(p.vertices, p.faces, n_points, seed)[0] for p in pred]
    pairs = _match(pred, gt, pred_points, gt_points)
    scores = []
    for j, part in enumerate(gt):
        center, size = part.box()[:3].astype(np.float64), part.box()[3:].astype(np.float64)
        diagonal = float(np.linalg.norm(size))
        i = pairs.get(j)
        if i is None:
            scores.append(PartScore.unmatched(part, thresholds))
            continue
        p, g = pred_points[i], gt_points[j]
        if frame == "part":
            scale = 2.0 / max(float(size.max()), 1e-9)
            p, g = (p - center) * scale, (g - center) * scale
        m = point_metrics(p, g, thresholds)
        fs = {k: v for k, v in m.items() if k.startswith("f@")}
        scores.append(
            PartScore(part.name, part.label, diagonal, size_bucket(diagonal), pred[i].name, m["chamfer"], fs)
        )
    return scores


def _match(pred: PartMesh, gt: PartMesh, pred_points, gt_points) -> dict[int, int]:
    """gt index -> pred index: by name when every gt name is predicted, else Hungarian on Chamfer."""
    if set(gt.names) <= set(pred.names):
        return {j: pred.names.index(name) for j, name in enumerate(gt.names)}
    from scipy.optimize import linear_sum_assignment

    cost = np.array([[chamfer_l1(p, g) for g in gt_points] for p in pred_points])
    rows, cols = linear_sum_assignment(cost)
    return {int(j): int(i) for i, j in zip(rows, cols, strict=True)}


def summarize_by_bucket(scores: Sequence[PartScore], buckets=SIZE_BUCKETS) -> dict[str, dict[str, float]]:
    """Mean metrics per size bucket: {bucket: {"parts", "missing", "chamfer", "f@<tau>"...}}.

    Chamfer is averaged over matched parts only; F-scores over all parts (unmatched count as 0).
    Buckets without parts are left out.
    """
    summary = {}
    for name, _, _ in buckets:
        rows = [s for s in scores if s.bucket == name]
        if not rows:
            continue
        matched = [s.chamfer for s in rows if s.matched is not None]
        entry = {
            "parts": len(rows),
            "missing": len(rows) - len(matched),
            "chamfer": float(np.mean(matched)) if matched else math.nan,
        }
        for key in rows[0].fscores:
            entry[key] = float(np.mean([s.fscores[key] for s in rows]))
        summary[name] = entry
    return summary
