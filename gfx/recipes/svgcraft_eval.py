"""`gfx eval svgcraft`: text -> scene on held-out procedural prompts (`gfx.data.scene_layouts`, test combinations).

1. Layout, for the layout model and a row baseline (objects side by side in mention order, relations ignored):
   - count accuracy: share of prompts where every phrase has exactly its count of distinct boxes;
   - relation accuracy: share of stated relations that hold for every pair of objects (`relation_holds`);
   - size accuracy: share of sized phrases whose boxes have that size;
   - box IoU: mean IoU with the ground-truth boxes, objects matched within each phrase (Hungarian);
   - validity: share of layouts that decode completely.
2. Scenes (`scenes` prompts through `gfx.svg.scene`): validity (parses and renders, one group per object), seconds
   per scene, and per object the IconCLIP score of its box cut from the rendered scene against its concept, beside
   the score of the same object drawn alone (the ratio says how much the scene costs an object).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from gfx.data.scene_layouts import LayoutRecord, check_layout, generate_layouts, iou

SEED = 0


def matched_iou(record: LayoutRecord, boxes: np.ndarray) -> float:
    """Mean IoU of `boxes` (N, 4) with the record's, objects matched within each phrase to maximise it."""
    from scipy.optimize import linear_sum_assignment

    owners = np.array(record.owners)
    if len(boxes) != len(owners):
        return 0.0
    total = 0.0
    for g in range(len(record.groups)):
        idx = np.flatnonzero(owners == g)
        table = np.array([[iou(boxes[i].tolist(), record.boxes[j].tolist()) for j in idx] for i in idx])
        rows, cols = linear_sum_assignment(-table)
        total += float(table[rows, cols].sum())
    return total / len(owners)


def row_layout(record: LayoutRecord) -> np.ndarray:
    """The baseline: every object in a row of equal cells across the canvas middle, in mention order."""
    n = len(record.owners)
    return np.array([[i / n, 0.5 - 0.5 / n, (i + 1) / n, 0.5 + 0.5 / n] for i in range(n)])


def score_layouts(records: list[LayoutRecord], layout_of, progress=None, label: str = "layouts") -> dict:
    """The layout metrics of `layout_of(record) -> (N, 4) boxes` over `records`."""
    counts, relations, sizes, ious, valid, seconds = [], [], [], [], [], []
    for k, record in enumerate(records):
        start = time.perf_counter()
        boxes = layout_of(record)
        seconds.append(time.perf_counter() - start)
        ok = check_layout(record.groups, record.relations, boxes)
        counts.append(ok["counts"])
        valid.append(len(boxes) == len(record.owners))
        relations += [check_layout(record.groups, [r], boxes)["relations"] for r in record.relations]
        sizes += [check_layout([g if i == j else type(g)(g.concept, g.count) for j, g in enumerate(record.groups)],
                               [], boxes)["sizes"] for i, g in enumerate(record.groups) if g.size]
        ious.append(matched_iou(record, boxes))
        if progress is not None:
            progress(k + 1, len(records), label)
    return {"count_accuracy": float(np.mean(counts)), "relation_accuracy": float(np.mean(relations)),
            "size_accuracy": float(np.mean(sizes)) if sizes else None, "box_iou": float(np.mean(ious)),
            "validity": float(np.mean(valid)), "relations": len(relations),
            "seconds_per_layout": statistics.median(seconds)}


def evaluate_layout_split(pipe, split: str = "test", limit: int = 0, progress=None, seed: int = SEED) -> dict:
    """Layout metrics of `pipe` (an `SVGCraftLayout`) and of the row baseline on `limit` (0: 500) prompts."""
    records = generate_layouts(limit or 500, split, seed)
    model = score_layouts(records, lambda r: pipe(r.caption, seed=seed).boxes, progress, "layouts")
    return {"split": split, "prompts": len(records), "seed": seed,
            "methods": {"svgcraft-layout": model, "row baseline": score_layouts(records, row_layout)}}


def evaluate_svgcraft(split: str | None = "test", limit: int = 0, progress=None, model: str | None = None,
                      scenes: int = 20) -> dict:
    """`gfx eval svgcraft`: the layout table on `limit` (0: 500) prompts of `split`, then `scenes` whole scenes."""
    from gfx.svg.svgcraft import load_default

    return evaluate_scene_split(load_default(model), split or "test", limit, scenes, progress)


def evaluate_scene_split(pipe, split: str = "test", limit: int = 0, scenes: int = 20, progress=None) -> dict:
    """`evaluate_layout_split` of `pipe` (an `SVGCraftLayout`) with the `scenes` table of its scenes."""
    report = evaluate_layout_split(pipe, split, limit, progress)
    report["scenes"] = score_scenes(generate_layouts(scenes, split, SEED + 1), pipe, progress)
    return report


def score_scenes(records: list[LayoutRecord], layout_model=None, progress=None) -> dict:
    """Validity, seconds per scene and per-object IconCLIP scores in the scene and alone (see the docstring)."""
    from gfx.models import model_path
    from gfx.svg.core.metrics import is_valid_svg
    from gfx.svg.icon_clip import IconCLIP
    from gfx.svg.scene_compose import compose_scene
    from gfx.svg.scene_describe import scene_groups

    evaluator = IconCLIP.from_pretrained(model_path("icon-clip"))
    valid, seconds, in_scene, alone = [], [], [], []
    for k, record in enumerate(records):
        start = time.perf_counter()
        result = compose_scene(record.caption, seed=SEED + k, layout_model=layout_model)
        seconds.append(time.perf_counter() - start)
        groups = scene_groups(result.svg)
        valid.append(is_valid_svg(result.svg) and len(groups) == len(record.owners))
        crops, solo, concepts = object_crops(result)
        in_scene += evaluator.score(crops, concepts).tolist()
        alone += evaluator.score(solo, concepts).tolist()
        if progress is not None:
            progress(k + 1, len(records), "scenes")
    return {"scenes": len(records), "validity": float(np.mean(valid)), "seconds_per_scene_median":
            statistics.median(seconds), "seconds_per_scene_max": max(seconds),
            "object_score_in_scene": float(np.mean(in_scene)), "object_score_alone": float(np.mean(alone)),
            "object_score_ratio": float(np.mean(in_scene) / max(np.mean(alone), 1e-9))}


def object_crops(result) -> tuple[list[str], list[str], list[str]]:
    """Per object of a scene `SVGResult`: (the scene cut to its box, the object alone in the same square view,
    its concept), the views as SVG texts (square around the box, the scene's stroke widths)."""
    from gfx.svg.core.document import Document
    from gfx.svg.core.serialize import to_svg

    crops, alone, concepts, start = [], [], [], 0
    elements = result.document.elements
    for (phrase, n), obj in zip(result.groups, result.info["objects"], strict=True):
        x0, y0, x1, y1 = obj["box"]
        side = max(x1 - x0, y1 - y0, 1e-3)
        view = ((x0 + x1 - side) / 2, (y0 + y1 - side) / 2, side, side)
        crops.append(to_svg(Document(view, list(elements))))
        alone.append(to_svg(Document(view, list(elements[start : start + n]))))
        concepts.append(phrase.split()[-1])
        start += n
    return crops, alone, concepts
