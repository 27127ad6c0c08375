"""Choose a text -> icon model's decoding settings (guidance, top-p, temperature, best-of-K, consensus weight) on
validation concepts, not on the evaluated ones. Any IconShop or LLM4SVG directory.

    python -m scripts.icon_decoding                                        # the shipped IconShop, its own settings
    python -m scripts.icon_decoding --model DIR --guidance 1.5 2 3 --top-p 0.5 0.8 --out REPORT.json
    python -m scripts.icon_decoding --model models/llm4svg-mini --limit 50 --count 90 --seeds 0 1 \\
        --candidates 1 8 --weights 0 0.5 1 --out REPORT.json
    python -m scripts.icon_decoding --model DIR --count 60 --weights 0 0.5 --edit-retrieved 0.5 0.75 --out REPORT.json

The validation concepts are the concept-disjoint protocol's concepts that an evaluation with `--limit` prompts does
not prompt (`gfx eval iconshop --protocol concept-disjoint --limit 100`: 130 of 230; `gfx eval llm4svg`: limit 50,
180), `--count` of them evenly spaced. For each (guidance, top-p, temperature) and seed, the model draws the largest
K asked for per concept in one batch, seeded as the protocol's evaluation seeds its samples (`SEED_STRIDE`; IconShop
in outline style): the samples that best-of-K sees. A smaller K picks among the first K of them, samples of the same
distribution as a K-sample batch but not the same ones (the batch shares one random stream). Each
(K, consensus weight) then picks one per concept with `rerank_scores` (the model's reranker, or `--reranker`), and
the picks get the protocol's shape rank and near-copy rate, beside the retrieval baseline on the same concepts.
`--edit-retrieved` adds retrieve-and-edit drawings: the retrieval baseline's icon with a random fraction of its paths
kept and the rest regenerated for the prompt (`IconShop.edit`), K per concept, picked the same way. The
rule: the best top-5 (then the lowest mean distance) among the settings whose near-copy rate stays within the issue's
25%.
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
    from gfx.data.subset import evenly_spaced
    from gfx.models import MODELS_DIR, model_path
    from gfx.recipes.icon_protocols import (
        SEED_STRIDE,
        baseline_samplers,
        calibrate_near_copy,
        ink_masks,
        protocol_set,
        rank_scores,
        training_records,
        validation_rows,
    )
    from gfx.svg.core.metrics import InkChamfer
    from gfx.svg.icon_clip import IconCLIP
    from gfx.svg.iconshop import IconShop
    from gfx.svg.llm4svg import LLM4SVG, is_llm4svg_dir
    from gfx.svg.reranking import rerank_scores

    parser = argparse.ArgumentParser(prog="scripts.icon_decoding")
    parser.add_argument("--model", default=None, help="an IconShop or LLM4SVG directory (default: the shipped IconShop)")
    parser.add_argument("--limit", type=int, default=100, help="the evaluation's --limit (its prompts are left out)")
    parser.add_argument("--count", type=int, default=0, help="validation concepts to prompt, evenly spaced (0: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--guidance", type=float, nargs="+", default=None,
                        help="scales to try (IconShop; default: the model's)")
    parser.add_argument("--top-p", type=float, nargs="+", default=None, help="top-p values (default: the model's)")
    parser.add_argument("--temperature", type=float, nargs="+", default=None,
                        help="temperatures (default: the model's)")
    parser.add_argument("--candidates", type=int, nargs="+", default=[CANDIDATES], help="best-of-K values to try")
    parser.add_argument("--weights", type=float, nargs="+", default=WEIGHTS, help="consensus weights to try")
    parser.add_argument("--reranker", default=None,
                        help="an IconCLIP directory (default: the model's own, else models/icon-clip-disjoint)")
    parser.add_argument("--edit-retrieved", type=float, nargs="+", default=[], metavar="FRACTION",
                        help="IconShop: also draw by editing the retrieval baseline's icon, keeping this fraction of "
                        "its paths (a random subset per candidate) and regenerating the rest with the prompt")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON report goes")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    records = load_icons()
    pset = protocol_set("concept-disjoint", records)
    val = list(evenly_spaced(validation_rows(len(pset.prompts), args.limit), args.count))
    model = args.model or model_path("iconshop")
    llm = is_llm4svg_dir(model)
    if args.edit_retrieved and llm:
        raise SystemExit("--edit-retrieved edits with IconShop's fill-in-the-middle; LLM4SVG has none")
    pipe = LLM4SVG.from_pretrained(model) if llm else IconShop.from_pretrained(model)
    reranker = (IconCLIP.from_pretrained(args.reranker) if args.reranker else pipe.reranker
                or IconCLIP.from_pretrained(MODELS_DIR / "icon-clip-disjoint"))
    train_records = training_records(records)
    train = InkChamfer(ink_masks([r.svg for r in train_records], cache=True))
    threshold = calibrate_near_copy(records)
    references = InkChamfer(ink_masks(pset.references))
    pool = max(args.candidates)

    def scored(svgs: list[str]) -> dict:
        masks = ink_masks(svgs)
        near_copy = float(np.mean([train(m).min() < threshold for m in masks]))
        return {**rank_scores(pset, references, masks, np.array(val * len(args.seeds))), "near_copy_rate": near_copy}

    def draw(prompt: str, seed: int, guidance: float, top_p: float, temperature: float) -> list[str]:
        sampling = dict(n=pool, seed=seed, top_p=top_p, temperature=temperature, candidates=1)
        if llm:
            return [r.svg for r in pipe(prompt, **sampling)]
        return [r.svg for r in pipe(prompt, guidance=guidance, style="outline", **sampling)]

    def edit_retrieved(prompt: str, seed: int, fraction: float) -> list[str]:
        """`pool` drawings: the retrieved icon with a random `fraction` of its paths kept, the rest regenerated."""
        source = retrieval(prompt, seed)
        paths = pipe.path_count(source)
        kept = min(paths - 1, max(1, round(fraction * paths)))
        rng = np.random.default_rng(seed)
        drawings = []
        for j in range(pool):
            keep = sorted(rng.choice(paths, size=kept, replace=False).tolist()) if kept > 0 else []
            result = (pipe.edit(source, keep, prompt, seed=seed * pool + j, style="outline") if keep else
                      pipe(prompt, seed=seed * pool + j, style="outline", candidates=1))
            drawings.append(result[0].svg)
        return drawings

    def picked(drawn: list[tuple[int, list[str]]], setting: dict) -> None:
        """Score best-of-K with every consensus weight on `drawn` (concept, candidates) and add the rows."""
        for k_best, weight in itertools.product(sorted(args.candidates), args.weights):
            if k_best == 1 and weight != args.weights[0]:
                continue  # one candidate: nothing to weigh
            picks = [svgs[0] if k_best == 1 else
                     svgs[int(np.argmax(rerank_scores(reranker, svgs[:k_best], pset.prompts[k], weight)))]
                     for k, svgs in drawn]
            row = {**setting, "candidates": k_best, "consensus": None if k_best == 1 else weight, **scored(picks)}
            settings.append(row)
            print(" ".join(f"{key} {value}" for key, value in setting.items()) + f" candidates {k_best} "
                  f"consensus {row['consensus']} "
                  f"top-1 {row['top1']:.3f}  top-5 {row['top5']:.3f}  distance {row['mean_distance']:.3f}  "
                  f"near-copy {row['near_copy_rate']:.3f}", flush=True)

    retrieval = baseline_samplers(train_records)["retrieval"]
    baseline = scored([retrieval(pset.prompts[k], k) for _ in args.seeds for k in val])
    print(f"retrieval          top-1 {baseline['top1']:.3f}  top-5 {baseline['top5']:.3f}  "
          f"distance {baseline['mean_distance']:.3f}  near-copy {baseline['near_copy_rate']:.3f}")
    guidances = [None] if llm else args.guidance or [pipe.config.guidance]
    settings = []
    for guidance, top_p, temperature in itertools.product(guidances, args.top_p or [pipe.config.top_p],
                                                          args.temperature or [pipe.config.temperature]):
        drawn = [(k, draw(pset.prompts[k], s * SEED_STRIDE + k, guidance, top_p, temperature))
                 for s in args.seeds for k in val]
        picked(drawn, {"guidance": guidance, "top_p": top_p, "temperature": temperature})
    for fraction in args.edit_retrieved:
        drawn = [(k, edit_retrieved(pset.prompts[k], s * SEED_STRIDE + k, fraction)) for s in args.seeds for k in val]
        picked(drawn, {"edit_retrieved": fraction})
    allowed = [s for s in settings if s["near_copy_rate"] <= MAX_NEAR_COPY]
    chosen = max(allowed, key=lambda s: (s["top5"], -s["mean_distance"])) if allowed else None
    report = {"protocol": "concept-disjoint", "model": str(args.model or "shipped"), "validation_concepts": len(val),
              "seeds": args.seeds, "near_copy_threshold_px": threshold, "max_near_copy_rate": MAX_NEAR_COPY,
              "retrieval": baseline, "settings": settings, "chosen": chosen}
    print(f"chosen: {chosen}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
