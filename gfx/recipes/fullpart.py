"""The `gfx train fullpart` recipe and the `gfx eval fullpart` table (FullPart vs the shared grid).

    gfx train fullpart                         # layout, parts, shared; resumes from gfx.train.RUNS_DIR/fullpart-mini
    result = evaluate_fullpart(FullPart.from_pretrained("models/fullpart-mini"), split="test")
    print(result["table"])

Stage (b) is scored under ground-truth layouts and captions: per-part F-score@0.05 and Chamfer by part-size
bucket, in the object frame and in each part's own frame, and the fragment rate (parts whose generated
grid has more than one component above 1% of its volume, before the pipeline keeps the largest). The
"oracle" rows mesh the ground-truth voxels of each representation (the part's box-frame grid at R^3; its
cells of the shared object grid at Ro^3): the best each representation can do, whatever the model.
Stage (a) is scored from the caption alone: box IoU after Hungarian matching, exact part count, labels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfx.checkpoint import load_weights
from gfx.mesh.fullpart import COMPONENTS, LEVEL, FullPart, label_color
from gfx.mesh.metrics import THRESHOLDS, PartScore, part_metrics, summarize_by_bucket
from gfx.mesh.parts import assemble, fragmented
from gfx.mesh.structures import MeshError, PartMesh
from gfx.models import MODELS_DIR
from gfx.recipes.card import Card, Table, minutes
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = MODELS_DIR / "fullpart-mini"
METHODS = ("fullpart", "shared", "fullpart_oracle", "shared_oracle")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of axis-aligned boxes: (N, 6), (M, 6) [center, size] -> (N, M)."""
    a_lo, a_hi = a[:, None, :3] - a[:, None, 3:] / 2, a[:, None, :3] + a[:, None, 3:] / 2
    b_lo, b_hi = b[None, :, :3] - b[None, :, 3:] / 2, b[None, :, :3] + b[None, :, 3:] / 2
    inter = np.prod(np.clip(np.minimum(a_hi, b_hi) - np.maximum(a_lo, b_lo), 0, None), axis=-1)
    union = np.prod(a[:, None, 3:], -1) + np.prod(b[None, :, 3:], -1) - inter
    return inter / np.maximum(union, 1e-12)


def layout_scores(pred_boxes, pred_labels, gt_boxes, gt_labels) -> dict[str, float]:
    """Hungarian-matched mean box IoU (unmatched GT boxes count 0), count and label accuracy."""
    from scipy.optimize import linear_sum_assignment

    iou = box_iou(np.asarray(pred_boxes), np.asarray(gt_boxes))
    rows, cols = linear_sum_assignment(-iou)
    return {
        "box_iou": float(iou[rows, cols].sum() / len(gt_boxes)),
        "count_exact": float(len(pred_boxes) == len(gt_boxes)),
        "count_error": float(abs(len(pred_boxes) - len(gt_boxes))),
        "label_acc": float(
            np.mean([pred_labels[r] == gt_labels[c] for r, c in zip(rows, cols, strict=True)])
        ),
    }


def missing_scores(gt: PartMesh) -> list[PartScore]:
    """Scores of a prediction with no parts at all: every ground-truth part unmatched (F = 0)."""
    return [PartScore.unmatched(part, THRESHOLDS) for part in gt]


@torch.no_grad()
def evaluate_fullpart(
    pipe: FullPart | str | Path | None = None,
    split: str | None = "test",
    limit: int = 64,
    progress=None,
    *,
    n_per_category: int = 1000,
    seed: int = 0,
    seeds: int = 2,
    n_points: int = 2000,
) -> dict:
    """The FullPart vs shared-grid table on `limit` objects of `split` (`gfx eval fullpart`).

    Args:
        pipe: a `FullPart`, a checkpoint directory, or None for the shipped `models/fullpart-mini`.
        split: dataset split (None: all); limit: objects scored, spread over the categories (0: all).
        progress: `progress(done, total, label)` after each object.
        n_per_category: objects per category the split is drawn from (as in training).
        seed: layout sampling seed; seeds: objects generated per caption; n_points: surface samples per part.

    Returns:
        {"split", "objects", "parts_resolution", "shared_resolution", "fragment_rate",
         "buckets": {method: {frame: summarize_by_bucket(...)}}, "layout": means of `layout_scores` over the
         generated objects, "recognition": `recognition` of them, "seconds_per_object"} and "table": the
         same as text (`format_fullpart_table`).
    """
    from gfx.backbones.text_encoder import cached_embedding
    from gfx.recipes.fullpart_data import box_frame_grid
    from gfx.recipes.parts3d import object_grid, part_mesh

    if not isinstance(pipe, FullPart):
        pipe = FullPart.from_pretrained(pipe if pipe is not None else DEFAULT_MODEL_DIR)
    objects = split_objects(split, n_per_category, limit)
    scores: dict = {m: {"object": [], "part": []} for m in METHODS}
    layouts, fragments, seconds, generated = [], [], [], []
    r = pipe.parts.config.grid
    ro = pipe.shared.config.grid if pipe.shared is not None else r
    for n, obj in enumerate(objects):
        gt, boxes, labels = part_mesh(obj), obj.boxes, obj.labels
        names, colors = gt.names, [label_color(x) for x in labels]  # GT names: parts pair up by name
        probs = pipe.part_probabilities(cached_embedding(obj.caption), boxes, labels)
        fragments += [fragmented(p > LEVEL) for p in probs]
        truth = np.stack([box_frame_grid(p.vertices, p.faces, b, r) for p, b in zip(gt, boxes, strict=True)])
        preds = {
            "fullpart": pipe.assemble(probs, boxes, labels, names),
            "fullpart_oracle": assemble(truth, boxes, names, labels, colors, frame="box"),
        }
        if pipe.shared is not None:
            try:
                preds["shared"] = pipe.shared_grid(obj.caption, boxes, labels, names)
            except MeshError:  # nothing generated: every part is missing
                preds["shared"] = None
            ids = object_grid(obj, ro)[1]
            cells = np.stack([ids == k for k in range(len(gt))])
            preds["shared_oracle"] = assemble(cells, boxes, names, labels, colors, frame="object")
        for method, pred in preds.items():
            for frame in ("object", "part"):
                scores[method][frame] += (
                    missing_scores(gt)
                    if pred is None
                    else part_metrics(pred, gt, n_points=n_points, seed=seed, frame=frame)
                )
        for k in range(seeds):  # generation from the caption alone: layout, recognition, time
            started = time.perf_counter()
            result = pipe(obj.caption, seed=seed + 1000 * k + n)
            seconds.append(time.perf_counter() - started)
            layouts.append(layout_scores(result.boxes, result.labels, boxes, labels)
                           | {"category": float(result.category == obj.category)})
            generated.append((obj.category, result.mesh))
        log.info("evaluated %d/%d %s", n + 1, len(objects), obj.id)
        if progress is not None:
            progress(n + 1, len(objects), "fullpart")
    buckets = {
        m: {f: summarize_by_bucket(s) for f, s in frames.items()}
        for m, frames in scores.items()
        if frames["object"]
    }
    layout = {k: round(float(np.mean([x[k] for x in layouts])), 4) for k in layouts[0]} if layouts else {}
    result = {
        "split": split or "all",
        "objects": len(objects),
        "parts_resolution": r,
        "shared_resolution": ro,
        "fragment_rate": round(float(np.mean(fragments)), 4) if fragments else 0.0,
        "seconds_per_object": round(float(np.mean(seconds)), 2) if seconds else 0.0,
        "buckets": buckets,
        "layout": layout,
        "recognition": recognition(generated),
    }
    result["table"] = format_fullpart_table(result)
    return result


def recognition(generated: list[tuple[str, PartMesh]]) -> dict:
    """How many generated objects the shipped category classifier (`gfx.mesh.classify`) puts in their prompted
    category: {"objects", "accuracy", "per_category": {name: accuracy}}."""
    from gfx.mesh.classify import SHIPPED_TASK, PointClassifier
    from gfx.models import model_path

    if not generated:
        return {}
    model = PointClassifier.from_pretrained(model_path(SHIPPED_TASK))
    predicted = model.predict([mesh for _, mesh in generated]).argmax(axis=1)
    right = np.array([model.config.categories[k] == c for k, (c, _) in zip(predicted, generated, strict=True)])
    prompted = np.array([c for c, _ in generated])
    return {"objects": len(generated), "accuracy": round(float(right.mean()), 4),
            "per_category": {c: round(float(right[prompted == c].mean()), 4) for c in sorted(set(prompted))}}


def split_objects(split: str | None, n_per_category: int, limit: int = 0) -> list:
    """The objects of a split, round-robin over the categories, the first `limit` (0: all)."""
    from gfx.data.parts3d import CATEGORIES, iter_objects

    per_category = [list(iter_objects(n_per_category, split=split, categories=[c])) for c in CATEGORIES]
    mixed = [objs[i] for i in range(max(map(len, per_category))) for objs in per_category if i < len(objs)]
    return mixed[: limit or None]


def format_fullpart_table(result: dict) -> str:
    """The evaluation as fixed-width text: one row per method, frame and size bucket."""
    lines = [
        f"FullPart vs shared grid, {result['split']} split, {result['objects']} objects, GT layouts; "
        f"part grids {result['parts_resolution']}^3, shared grid {result['shared_resolution']}^3",
        f"{'method':<16} {'frame':<6} {'bucket':<7} {'parts':>5} {'missing':>7} {'F@0.05':>7} {'F@0.1':>7} "
        f"{'CD':>7}",
    ]
    for method, frames in result["buckets"].items():
        for frame, buckets in frames.items():
            for bucket, row in buckets.items():
                lines.append(
                    f"{method:<16} {frame:<6} {bucket:<7} {row['parts']:>5} {row['missing']:>7} "
                    f"{row['f@0.05']:>7.3f} {row['f@0.1']:>7.3f} {row['chamfer']:>7.4f}"
                )
    lines.append(f"fragment rate (parts with > 1 component above 1% of their volume): {result['fragment_rate']}")
    if result.get("layout"):
        lines.append("layout from caption: " + ", ".join(f"{k} {v}" for k, v in result["layout"].items()))
    if result.get("recognition"):
        rec = result["recognition"]
        lines.append(f"classifier puts {rec['accuracy']} of {rec['objects']} generated objects in the prompted category: "
                     + ", ".join(f"{c} {a}" for c, a in rec["per_category"].items()))
    lines.append(f"seconds per generated object: {result['seconds_per_object']}")
    return "\n".join(lines)


@dataclass
class FullPartRecipe(RecipeConfig):
    """The fullpart schedule; the defaults are models/fullpart-mini's. `steps` and `batch_size` (parts, each
    with `points` query points) are those of the two part fields (parts, shared); the layout model has its own."""

    PRESETS = {"tiny": dict(preset="tiny", steps=2, layout_steps=2, batch_size=2, layout_batch_size=4,
                            points=64, n_per_category=8, eval_limit=0)}

    steps: int = 3000
    batch_size: int = 32
    points: int = 512
    weight_decay: float = 0.01
    warmup_steps: int = 200
    eval_every: int = 500
    checkpoint_every: int = 100
    log_every: int = 50
    eval_limit: int | None = 64  # test objects, 8 per category (x 2 seeds generated)
    layout_steps: int = 4000
    shorten_captions: float = 0.5  # share of layout training captions cut to a random subset of their clauses
    layout_batch_size: int = 32
    layout_eval_every: int = 500
    shared: bool = True  # also train the shared-grid baseline
    n_per_category: int = 1000  # objects per category of the procedural dataset (indices 0..n-1)

    def describe(self) -> str:
        """The fields' schedule, then the layout model's."""
        return (f"{super().describe()}, {self.points} query points per part; the layout model: {self.layout_steps} "
                f"steps, batch {self.layout_batch_size}; {self.n_per_category} objects per category")


def build(config: FullPartRecipe) -> FullPart:
    """A fresh pipeline whose layout grammar allows, per category, the labels of its training objects."""
    from gfx.data.parts3d import CATEGORIES
    from gfx.mesh.layout_lm import category_labels
    from gfx.recipes.fullpart_data import field_arrays

    train = field_arrays("train", config.n_per_category)
    allowed = category_labels(train["categories"], train["offsets"], train["labels"], len(CATEGORIES))
    return FullPart.build(config.preset, with_shared=config.shared and bool(config.steps), category_labels=allowed)


def layout_batches(pipe: FullPart, arrays: dict, batch_size: int, seed: int, shorten: float = 0.0, **kwargs):
    """`Batches` of whole layouts with their captions' MiniLM token states (`layout_lm.layout_batch`). With
    probability `shorten` a row's caption is replaced by a `shortened_caption` (its layout unchanged); the
    states of full captions are computed once, on their first batch, and kept (float16)."""
    from gfx.mesh.layout_lm import layout_batch, layout_prompt_states
    from gfx.recipes.batching import Batches
    from gfx.recipes.fullpart_data import shortened_caption

    o, cached, max_tokens = arrays["offsets"], {}, pipe.layout.config.max_prompt_tokens

    def states_of(captions: list[str]) -> list:
        prefix, mask = layout_prompt_states(captions, max_tokens)
        return [prefix[k, mask[k]].half() for k in range(len(captions))]

    def collate(rows, rng):
        new = [int(i) for i in rows if int(i) not in cached]
        if new:
            cached.update(zip(new, states_of([str(arrays["captions"][i]) for i in new]), strict=True))
        states = [cached[int(i)] for i in rows]
        short = [k for k in range(len(rows)) if rng.random() < shorten]
        if short:
            fresh = states_of([shortened_caption(str(arrays["captions"][rows[k]]), rng) for k in short])
            for k, st in zip(short, fresh, strict=True):
                states[k] = st
        return layout_batch(pipe.layout.tokenizer, arrays["categories"][rows],
                            [arrays["boxes"][o[i]:o[i + 1]] for i in rows], [arrays["labels"][o[i]:o[i + 1]] for i in rows],
                            states)

    return Batches(len(arrays["ids"]), batch_size, collate, seed=seed, **kwargs)


def stages(pipe: FullPart, config: FullPartRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """The layout model, then the per-part field, then the shared-grid field."""
    from gfx.recipes.fullpart_data import PartPoints, field_arrays

    r, ro = pipe.parts.config.grid, pipe.shared.config.grid if pipe.shared is not None else pipe.parts.config.grid
    started = time.perf_counter()
    data = {s: field_arrays(s, config.n_per_category, part_resolution=r, object_resolution=ro) for s in ("train", "val")}
    log.info("part arrays ready in %.0f s", time.perf_counter() - started)
    facts.update(preset=config.preset, n_per_category=config.n_per_category, train_objects=len(data["train"]["ids"]),
                 val_objects=len(data["val"]["ids"]), seed=config.seed, lr=config.lr, points=config.points,
                 components={})
    plan = [("layout", config.layout_steps, config.layout_batch_size, config.layout_eval_every),
            ("parts", config.steps, config.batch_size, config.eval_every),
            ("shared", config.steps, config.batch_size, config.eval_every)]
    for name, steps, batch, eval_every in plan:
        model = getattr(pipe, name)
        if model is None or not steps:
            continue
        if name == "layout":
            train = layout_batches(pipe, data["train"], batch, config.seed, shorten=config.shorten_captions)
            val = list(layout_batches(pipe, data["val"], batch, config.seed, shuffle=False, drop_last=False)(0))
        else:
            frame = model.config.frame
            train = PartPoints(data["train"], batch, config.points, frame, seed=config.seed)
            val = list(PartPoints(data["val"], batch, config.points, frame, seed=config.seed + 1, batches_per_epoch=8)(0))
        stage = Stage(name, model, train, val, config.schedule(steps=steps, eval_every=eval_every))
        yield stage
        facts["components"][name] = {"parameters": parameter_count(model), "config": model.config.to_dict(),
                                     "batch_size": batch, **run_facts(stage.result)}


def warm_start(pipe: FullPart, directory: Path) -> None:
    """Load every component's weights from a saved FullPart directory."""
    for name in COMPONENTS:
        if getattr(pipe, name) is not None and (directory / name).is_dir():
            load_weights(getattr(pipe, name), directory / name)


def card(name: str, facts: dict) -> Card:
    """The fullpart model card from its facts."""
    run = [f"device {facts['device']} ({facts['machine']}, on a machine shared with other jobs)"]
    run += [f"{part}: {c['parameters']:,} parameters, {c['steps']} steps, batch {c['batch_size']}, "
            f"{minutes(c['train_wall_time_s'])}, train loss {c['train_loss']}, val loss {c['val_loss']}"
            for part, c in facts["components"].items()]
    run.append("losses: layout = next-token cross-entropy; parts/shared = BCE of occupancy at query points")
    return Card(
        title=name,
        summary="FullPart-style text -> part mesh pipeline of gfx (arXiv 2510.26140, built at CPU scale):\n"
        "(a) `layout/`: a decoder (the shared `Transformer`) that writes the category and the labelled part boxes as\n"
        "tokens (label, centre and log-size bins per axis) after the prompt's MiniLM token states, decoded under a\n"
        "grammar that keeps the token order and each category's label vocabulary; (b) `parts/`: an occupancy field\n"
        "per part in its own box frame (the box stretched to [-1, 1]^3, so a thin leg gets as many cells across as\n"
        "the seat), conditioned on label, box and the prompt's sentence embedding; (c) the largest component of\n"
        "each part, marching cubes, assembly into one mesh with named parts. `shared/`: the same field trained on\n"
        "one shared object grid (the baseline of the FullPart-vs-shared-grid ablation). Weights stored as float16.",
        datasets=("gfx.data.parts3d (procedural, generated by gfx)",),
        tags=("text-to-3d", "part-mesh", "fullpart", "occupancy-field"),
        data=f"The procedural part dataset (`gfx.data.parts3d`, 8 categories, objects 0..{facts['n_per_category'] - 1}"
        f" each): {facts['train_objects']} train / {facts['val_objects']} val objects with captions, boxes, labels.",
        run=run,
        metrics=fullpart_tables(facts["eval"]) if "eval" in facts else [],
        notes=FULLPART_NOTES if "eval" in facts else [],
        use=f"""
from gfx.mesh.fullpart import FullPart
pipe = FullPart.from_pretrained("models/{name}")
result = pipe("a wooden chair with four legs", seed=0)   # FullPartResult: .mesh (PartMesh), layout
result.mesh.export("chair.glb")
""",
    )


def fullpart_tables(e: dict) -> list[Table]:
    """The `gfx eval fullpart` report: one row per method, frame and size bucket; then the layout scores."""
    rows = [[method, frame, bucket, str(row["parts"]), str(row["missing"]), f"{row['f@0.05']:.3f}",
             f"{row['f@0.1']:.3f}", f"{row['chamfer']:.4f}"]
            for method, frames in e["buckets"].items() for frame, buckets in frames.items()
            for bucket, row in buckets.items()]
    tables = [Table(f"`gfx eval fullpart --split test`: FullPart vs shared grid, {e['objects']} {e['split']} objects, "
                    f"GT layouts; part grids {e['parts_resolution']}^3, shared grid {e['shared_resolution']}^3.",
                    ["method", "frame", "bucket", "parts", "missing", "F@0.05", "F@0.1", "CD"], rows)]
    if e.get("layout"):
        rec = e.get("recognition") or {}
        head = list(e["layout"]) + ["recognised", "fragment_rate", "s/object"]
        row = [str(v) for v in e["layout"].values()] + [str(rec.get("accuracy", "")), str(e["fragment_rate"]),
                                                      str(e["seconds_per_object"])]
        tables.append(Table(f"Generated from the caption alone ({rec.get('objects', 0)} objects: every test caption "
                            "above, several seeds): layout scores against the caption's object, the share the "
                            "category classifier recognises, the fragment rate of part grids (under GT layouts) "
                            "and seconds per object on this CPU:", head, [row]))
        if rec:
            tables.append(Table("Recognised per category:", list(rec["per_category"]),
                                [[str(v) for v in rec["per_category"].values()]]))
    return tables


FULLPART_NOTES = [
    "F-score at tau = 0.05 and Chamfer L1 (gfx.mesh.metrics); frame 'part' measures each part in its\n"
    "own box frame scaled to [-1, 1]^3. Buckets by box diagonal: small < 0.3 <= medium < 1.0 <= large.\n"
    "'missing' counts ground-truth parts the method produced no mesh for (scored F = 0). The fragment rate\n"
    "counts generated part grids with more than one component above 1% of the part's volume, before the\n"
    "pipeline keeps each part's largest component.",
]


RECIPE = Recipe(
    name="fullpart",
    model_name="fullpart-mini",
    config_class=FullPartRecipe,
    build=build,
    warm_start=warm_start,
    stages=stages,
    save=lambda pipe, path: pipe.save_pretrained(path),
    load=FullPart.from_pretrained,
    evaluate=lambda pipe, config: evaluate_fullpart(pipe, "test", config.eval_limit or 0,
                                                    n_per_category=config.n_per_category, seed=config.seed),
    card=card,
)
