"""Choose IconShop's decoding settings (guidance, top-p, consensus weight) on validation concepts, not on the
evaluated ones.

    python -m scripts.iconshop_decoding                                   # the shipped model, its own settings
    python -m scripts.iconshop_decoding --model DIR --guidance 1.5 2 3 --top-p 0.5 0.8 --out REPORT.json

The validation concepts are the concept-disjoint protocol's concepts that `gfx eval iconshop --protocol
concept-disjoint --limit 100` does not prompt (130 of 230). For each (guidance, top-p), the model draws 8 outline
candidates per concept (seed = the concept's index, one batch: the samples its best-of-8 sees); each consensus weight
then picks one per concept with `rerank_scores`, and the picks get the protocol's shape rank and near-copy rate,
beside the retrieval baseline on the same concepts. The rule: the best top-5 (then the lowest mean distance) among
the settings whose near-copy rate stays within the issue's 25%.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
MAX_NEAR_COPY = 0.25
CANDIDATES = 8
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "bench" / "results" / "iconshop-consensus-val.json"


def main(argv: list[str] | None = None) -> dict:
    import numpy as np
    import torch

    from gfx.data.icons import load_icons
    from gfx.models import model_path
    from gfx.recipes.icon_protocols import (
        baseline_samplers,
        calibrate_near_copy,
        ink_masks,
        prompted_rows,
        protocol_set,
        rank_scores,
        training_records,
    )
    from gfx.svg.core.metrics import InkChamfer
    from gfx.svg.iconshop import IconShop, rerank_scores

    parser = argparse.ArgumentParser(prog="scripts.iconshop_decoding")
    parser.add_argument("--model", default=None, help="an IconShop pipeline directory (default: the shipped one)")
    parser.add_argument("--limit", type=int, default=100, help="the evaluation's --limit (its prompts are left out)")
    parser.add_argument("--guidance", type=float, nargs="+", default=None, help="scales to try (default: the model's)")
    parser.add_argument("--top-p", type=float, nargs="+", default=None, help="top-p values (default: the model's)")
    parser.add_argument("--weights", type=float, nargs="+", default=WEIGHTS, help="consensus weights to try")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON report goes")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    records = load_icons()
    pset = protocol_set("concept-disjoint", records)
    evaluated = set(prompted_rows(len(pset.prompts), args.limit).tolist())
    val = [k for k in range(len(pset.prompts)) if k not in evaluated]
    pipe = IconShop.from_pretrained(args.model or model_path("iconshop"))
    train_records = training_records(records)
    train = InkChamfer(ink_masks([r.svg for r in train_records], cache=True))
    threshold = calibrate_near_copy(records)
    references = InkChamfer(ink_masks(pset.references))

    def scored(svgs: list[str]) -> dict:
        masks = ink_masks(svgs)
        near_copy = float(np.mean([train(m).min() < threshold for m in masks]))
        return {**rank_scores(pset, references, masks, np.array(val)), "near_copy_rate": near_copy}

    retrieval = baseline_samplers(train_records)["retrieval"]
    baseline = scored([retrieval(pset.prompts[k], k) for k in val])
    print(f"retrieval          top-1 {baseline['top1']:.3f}  top-5 {baseline['top5']:.3f}  "
          f"distance {baseline['mean_distance']:.3f}  near-copy {baseline['near_copy_rate']:.3f}")
    settings = []
    for guidance, top_p in itertools.product(args.guidance or [pipe.config.guidance], args.top_p or [pipe.config.top_p]):
        candidates = {k: [r.svg for r in pipe(pset.prompts[k], n=CANDIDATES, seed=k, guidance=guidance, top_p=top_p,
                                              style="outline", candidates=1)] for k in val}
        for weight in args.weights:
            picks = [candidates[k][int(np.argmax(rerank_scores(pipe.reranker, candidates[k], pset.prompts[k], weight)))]
                     for k in val]
            row = {"guidance": guidance, "top_p": top_p, "consensus": weight, **scored(picks)}
            settings.append(row)
            print(f"guidance {guidance:<4} top-p {top_p:<4} consensus {weight:<5} top-1 {row['top1']:.3f}  "
                  f"top-5 {row['top5']:.3f}  distance {row['mean_distance']:.3f}  near-copy {row['near_copy_rate']:.3f}",
                  flush=True)
    allowed = [s for s in settings if s["near_copy_rate"] <= MAX_NEAR_COPY]
    chosen = max(allowed, key=lambda s: (s["top5"], -s["mean_distance"])) if allowed else None
    report = {"protocol": "concept-disjoint", "model": str(args.model or "shipped"), "validation_concepts": len(val),
              "candidates": CANDIDATES, "near_copy_threshold_px": threshold, "max_near_copy_rate": MAX_NEAR_COPY,
              "retrieval": baseline, "settings": settings, "chosen": chosen}
    print(f"chosen: {chosen}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
