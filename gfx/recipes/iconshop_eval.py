"""`gfx eval iconshop`: text -> icon quality on a corpus split, beside a retrieval baseline.

For each evaluated test icon, its metadata prompt (name, tags, category) goes to
1. the IconShop model (one sample per prompt), and
2. the retrieval baseline: the train icon whose prompt has the nearest MiniLM embedding
   (a trivial answer that is always a clean icon and never novel).
Both are scored the same way:
- validity: share of outputs that parse safely and render (must be 1.0 for the model);
- evaluator score: mean IconCLIP cosine of an icon with its prompt (a CLIP-score stand-in), next to
  the score of the real test icons for the same prompts;
- FID: Frechet distance between IconCLIP image features of the outputs and of the real test icons;
- Uniqueness: % of outputs that occur once among the outputs (exact token sequence);
- Novelty: % of outputs whose token sequence is not in the training set;
- seconds per icon.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from gfx.data.subset import evenly_spaced
from gfx.svg.core.metrics import frechet_distance, is_valid_svg, novelty, uniqueness
from gfx.svg.core.parse import parse_svg


def evaluate_iconshop(pipe, split: str = "test", limit: int = 200, seed: int = 0, evaluator=None,
                      progress=None, style: str | None = "outline", candidates: int | None = None,
                      consensus: float | None = None) -> dict:
    """The evaluation table for `pipe` (an `IconShop`) sampling in `style` on `limit` icons of `split` (0 = all),
    each icon the best of `candidates` by the pipe's reranker with agreement weight `consensus` (None: its
    defaults)."""
    from gfx.backbones.text_encoder import text_encoder
    from gfx.data.icons import load_icons
    from gfx.models import model_path
    from gfx.svg.icon_clip import IconCLIP

    evaluator = evaluator or IconCLIP.from_pretrained(model_path("icon-clip"))
    records = load_icons(split=split)
    records = evenly_spaced(records, limit)
    train = load_icons(split="train")
    prompts = [r.text for r in records]
    real = [r.svg for r in records]

    generated, seconds = [], []
    for i, prompt in enumerate(prompts):
        start = time.perf_counter()
        [result] = pipe(prompt, n=1, seed=seed + i, style=style, candidates=candidates, consensus=consensus)
        seconds.append(time.perf_counter() - start)
        generated.append(result.svg)
        if progress is not None:
            progress(i + 1, len(prompts), "generating")

    encoder = text_encoder()
    train_embeddings = encoder.embed([r.text for r in train]).numpy()
    nearest = (encoder.embed(prompts).numpy() @ train_embeddings.T).argmax(axis=1)
    retrieved = [train[j].svg for j in nearest]

    def canonical(svgs):
        return [tuple(pipe.tokenizer.encode(parse_svg(s))) for s in svgs]

    train_tokens = canonical([r.svg for r in train])
    real_features = evaluator.image_features(real)

    def scores(svgs, per_icon_seconds):
        valid = [s for s in svgs if is_valid_svg(s)]
        return {
            "validity": len(valid) / len(svgs),
            "evaluator_score": float(np.mean(evaluator.score(svgs, prompts))),
            "fid": frechet_distance(evaluator.image_features(svgs), real_features),
            "uniqueness_pct": uniqueness(canonical(svgs)),
            "novelty_pct": novelty(canonical(svgs), train_tokens),
            "seconds_per_icon_median": per_icon_seconds,
        }

    return {
        "split": split,
        "icons": len(records),
        "seed": seed,
        "style": style,
        "candidates": pipe.config.candidates if candidates is None else candidates,
        "consensus": pipe.config.consensus if consensus is None else consensus,
        "real_icons_evaluator_score": float(np.mean(evaluator.score(real, prompts))),
        "iconshop": scores(generated, statistics.median(seconds)),
        "retrieval_baseline": scores(retrieved, None),
    }


def evaluate_iconshop_split(split: str | None = "test", limit: int = 200, progress=None, model: str | None = None,
                            protocol: str | None = None, style: str | None = "outline",
                            candidates: int | None = None, consensus: float | None = None, **_) -> dict:
    """`gfx eval iconshop`: the table for the shipped model (or `model`) sampling in `style` (None: any); with
    `protocol` ("concept-disjoint", "cross-designer"), the generalization table of `gfx.recipes.icon_protocols`
    instead (prompts evenly spaced up to `limit`, 0 = all; seeds 0, 1, 2). `candidates`: samples per icon the
    model's reranker picks from, `consensus` the weight of their agreement (defaults: the model's settings)."""
    from gfx.svg.icon_style import check_style
    from gfx.svg.iconshop import load_default

    check_style(style)
    if protocol is not None:
        from gfx.recipes.icon_protocols import evaluate_generalization

        return evaluate_generalization(protocol, load_default(model), limit=limit, progress=progress, style=style,
                                       candidates=candidates, consensus=consensus)
    return evaluate_iconshop(load_default(model), split=split or "test", limit=limit or 200, progress=progress,
                             style=style, candidates=candidates, consensus=consensus)
