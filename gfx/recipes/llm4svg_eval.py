"""`gfx eval llm4svg`: validity, describe accuracy, draw quality (shape rank, beside IconShop) and edits.

1. describe (test split, `limit` icons evenly spaced among those that fit the model): **name retrieval** ranks the
   evaluated icons' describe answers ("Category: name words", `describe_answer`) by their log-probability after the
   describe prompt of the icon; top-k is correct when one of the k best has the icon's name words (identical names
   count as one). **Category accuracy**: the evaluated icons' distinct categories ranked by the log-probability of
   " Category:", over the icons that have one. Beside them: IconCLIP (`models/icon-clip`) ranking the same names /
   categories by image-text cosine, and chance.
2. draw: the shape-rank protocol (`icon_protocols.evaluate_generalization`, "concept-disjoint" by default): the
   model, IconShop (outline style, its default) and the retrieval and random baselines on the same prompts and
   seeds; plus the model's validity (share of samples that parse safely and render).
3. edit (test split): each icon's edit picked as in training (`icon_instructions`); validity, exact token match,
   render MSE against the exact edit (and of the unedited icon, for scale).
"""

from __future__ import annotations

import numpy as np

from gfx.data.icons import IconRecord, load_icons, words
from gfx.data.subset import evenly_spaced
from gfx.recipes.llm4svg_data import MAX_EDIT_TOKENS, describe_answer, icon_instructions
from gfx.svg.core.document import SVGError
from gfx.svg.core.metrics import compare, is_valid_svg
from gfx.svg.core.serialize import to_svg
from gfx.svg.icon_clip import retrieval_metrics


def fitting(pipe, records: list[IconRecord], limit: int) -> list[IconRecord]:
    """`limit` records (0: all), evenly spaced, among those short enough for the model."""
    fit = []
    for r in records:
        try:
            pipe.svg_ids(r.svg)
        except SVGError:
            continue
        fit.append(r)
    return evenly_spaced(fit, limit)


def describe_accuracy(pipe, records: list[IconRecord], evaluator, progress=None) -> dict:
    """Name retrieval (top-1, top-5) and category accuracy of the model, IconCLIP and chance (module doc)."""
    names = [words(r.name) for r in records]
    answers = [f" {describe_answer(r)}." for r in records]
    categories = sorted({r.category for r in records if r.category})
    with_category = [i for i, r in enumerate(records) if r.category]
    truth = np.array([categories.index(records[i].category) for i in with_category])
    scores, category_scores = [], []
    for i, r in enumerate(records):
        scores.append(pipe.continuation_scores(r.svg, answers))
        if r.category:
            category_scores.append(pipe.continuation_scores(r.svg, [f" {c}:" for c in categories]))
        if progress is not None:
            progress(i + 1, len(records), "describe")
    # retrieval_metrics ranks image i's texts by image_embeddings @ text_embeddings.T: a score matrix times I
    model = retrieval_metrics(np.stack(scores), np.eye(len(records)), names)
    images = evaluator.encode_images([r.svg for r in records])
    clip = retrieval_metrics(images, evaluator.encode_texts(names), names)
    clip_categories = images[with_category] @ evaluator.encode_texts(categories).T

    def category_top1(matrix) -> float:
        return float(np.mean(np.argmax(matrix, axis=1) == truth)) if len(truth) else float("nan")

    distinct = len(set(names))
    return {
        "icons": len(records), "names": distinct, "categories": len(categories),
        "llm4svg": {"name_top1": model["image_to_text_top1"], "name_top5": model["image_to_text_top5"],
                    "category_top1": category_top1(np.stack(category_scores) if category_scores else np.zeros((0, 1)))},
        "icon_clip": {"name_top1": clip["image_to_text_top1"], "name_top5": clip["image_to_text_top5"],
                      "category_top1": category_top1(clip_categories)},
        "chance": {"name_top1": 1 / distinct, "name_top5": min(5 / distinct, 1.0),
                   "category_top1": 1 / max(len(categories), 1)},
    }


def edit_scores(pipe, records: list[IconRecord], seed: int = 0, progress=None,
                max_edit_tokens: int = MAX_EDIT_TOKENS) -> dict:
    """Validity, exact match and render MSE of the model's edits of `records` (those with an edit, picked as in
    training with `max_edit_tokens`)."""
    cases = []
    for r in records:
        edits = [i for i in icon_instructions(r, pipe.tokenizer, pipe.config.max_svg_tokens, max_edit_tokens)
                 if i.task == "edit"]
        if edits:
            cases.append((r, edits[0]))
    valid, exact, mse, unedited = [], [], [], []
    for k, (r, edit) in enumerate(cases):
        [result] = pipe.edit(r.svg, edit.text, seed=seed + k)
        target = to_svg(pipe.tokenizer.decode(edit.target))
        valid.append(is_valid_svg(result.svg))
        exact.append(tuple(result.tokens) == edit.target)
        mse.append(compare(target, result.svg, 128)["mse"])
        unedited.append(compare(target, r.svg, 128)["mse"])
        if progress is not None:
            progress(k + 1, len(cases), "edit")
    return {"icons": len(cases), "valid": int(np.sum(valid)), "validity": float(np.mean(valid)),
            "exact_match": float(np.mean(exact)),
            "mse": float(np.mean(mse)), "mse_unedited": float(np.mean(unedited))}


def evaluate_model(pipe, split: str = "test", limit: int = 50, protocol: str = "concept-disjoint",
                   seeds: tuple[int, ...] = (0, 1, 2), progress=None, iconshop=None, evaluator=None) -> dict:
    """The `gfx eval llm4svg` report of `pipe` (an `LLM4SVG`); `limit` test icons and protocol prompts (0: all)."""
    from gfx.models import model_path
    from gfx.recipes.icon_protocols import evaluate_generalization
    from gfx.svg.icon_clip import IconCLIP
    from gfx.svg.iconshop import load_default as load_iconshop

    evaluator = evaluator or IconCLIP.from_pretrained(model_path("icon-clip"))
    records = fitting(pipe, load_icons(split=split), limit)
    report = {"split": split, "describe": describe_accuracy(pipe, records, evaluator, progress)}
    report["edit"] = edit_scores(pipe, records, progress=progress)
    valid: list[bool] = []

    def draw(prompt: str, seed: int) -> str:
        [result] = pipe(prompt, n=1, seed=seed)
        valid.append(is_valid_svg(result.svg))
        return result.svg

    report["draw"] = evaluate_generalization(protocol, iconshop or load_iconshop(), seeds, limit, progress,
                                             others={"llm4svg": draw})
    report["draw"]["methods"]["llm4svg"]["validity"] = float(np.mean(valid))
    edit = report["edit"]
    report["validity"] = (sum(valid) + edit["valid"]) / (len(valid) + edit["icons"])  # every SVG the model wrote
    return report


def evaluate_llm4svg(split: str | None = "test", limit: int = 0, progress=None, model: str | None = None,
                     protocol: str | None = None, **_) -> dict:
    """`gfx eval llm4svg`: the report of the shipped model (or `model`, any local causal-LM directory) on `limit`
    test icons and protocol prompts (0: 50), shape rank under `protocol` (default concept-disjoint)."""
    from gfx.svg.llm4svg import load_default

    return evaluate_model(load_default(model), split=split or "test", limit=limit or 50,
                          protocol=protocol or "concept-disjoint", progress=progress)
