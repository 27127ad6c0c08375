"""Best of K: keep the drawings of a prompt that an icon evaluator (`IconCLIP`) ranks highest, optionally weighing
how much the samples agree (minimum Bayes risk under the ink-chamfer distance). Used by every text -> icon model
(IconShop, LLM4SVG) that draws K candidates per icon.

    scores = rerank_scores(reranker, svgs, "arrow up", consensus=0.5)   # (K,) higher is better
    best = best_of(reranker, results, "arrow up", n=1, consensus=0.5)   # list[SVGResult], best first
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from gfx.svg.core.metrics import INK_LEVEL, mean_pairwise_chamfer
from gfx.svg.core.result import SVGResult
from gfx.svg.icon_clip import IconCLIP


def candidate_count(candidates: int, reranker: IconCLIP | None, prompt: str) -> int:
    """Samples to draw per icon: `candidates` (1 for an empty prompt, which is never reranked). ValueError when it
    is below 1, or above 1 without a reranker."""
    if candidates < 1:
        raise ValueError(f"candidates must be at least 1, got {candidates}")
    if candidates > 1 and reranker is None:
        raise ValueError(f"reranking {candidates} candidates needs a pipeline with a reranker (an IconCLIP); pass "
                         "candidates=1")
    return candidates if prompt.strip() else 1


def rerank_scores(reranker: IconCLIP, svgs: Sequence[str], prompt: str, consensus: float = 0.0) -> np.ndarray:
    """Scores (K,) of K candidate icons for `prompt`, higher is better.

    The reranker's similarity to the prompt; with `consensus` > 0, standardized over the candidates, minus
    `consensus` times the standardized mean ink-chamfer distance of each candidate to the others. The second term is
    minimum-Bayes-risk selection under the shape distance: it prefers the drawing the model's samples agree on over
    an outlier the reranker happens to like.
    """
    gray = reranker.preprocess(svgs)  # (K, S, S) uint8, rendered once for both terms
    similarity = reranker.encode_images(gray) @ reranker.encode_texts([prompt])[0]
    if consensus == 0 or len(svgs) < 2:
        return similarity
    disagreement = mean_pairwise_chamfer(gray < 255 * (1 - INK_LEVEL))
    return standardize(similarity) - consensus * standardize(disagreement)


def standardize(x: np.ndarray) -> np.ndarray:
    """(K,) -> zero mean, unit spread (all zeros when the values are equal)."""
    spread = x.std()
    return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)


def best_of(reranker: IconCLIP, results: Sequence[SVGResult], prompt: str, n: int,
            consensus: float = 0.0) -> list[SVGResult]:
    """The `n` of `results` ranked highest for `prompt` by `rerank_scores`, best first (score in `info`)."""
    scores = rerank_scores(reranker, [r.svg for r in results], prompt, consensus)
    best = np.argsort(-scores, kind="stable")[:n]
    return [dataclasses.replace(results[i], info={**results[i].info, "candidates": len(results),
                                                  "reranker_score": float(scores[i])}) for i in best]
