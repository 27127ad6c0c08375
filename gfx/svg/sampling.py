"""Grammar-constrained sampling of whole drawings with retries, shared by the token-based SVG pipelines.

Used by `IconShop` (text prefix, guidance, infilling), `StarVector` (visual-token prefix) and `LLM4SVG` (a
causal LM's own text prompt, no prefix).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from gfx.backbones.decoding import generate, left_pad
from gfx.backbones.guidance import Guidance
from gfx.svg.core.document import SVGError
from gfx.svg.core.result import SVGResult
from gfx.svg.tokenizers.vocab import EOS_ID, PAD_ID


def sample_drawings(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    constraint: Callable[[Sequence[int]], object],
    prefix,
    prefix_mask=None,
    max_tokens: int,
    sampling,
    retries: int,
    seed: int | None,
    use_cache: bool = True,
    drop_finished: bool = False,
    guidance: float = 1.0,
    stop: int = EOS_ID,
    extra_budget: int = 0,
    splice: Callable[[list[int]], list[int]] | None = None,
    prompt: str | None = None,
    info: dict | None = None,
    error: str = "the model produced an empty drawing; try another seed",
) -> list[SVGResult]:
    """Sample a continuation of every token prompt under the grammar and decode it.

    Steps: 1. a grammar constraint per row, advanced through its prompt (`constraint(row)`); 2. sample
    (attempt k uses seed + 7919 k); 3. decode, keeping the complete elements of a row that ran out of
    tokens; 4. sample the rows that decoded empty again, at most `retries` times.

    Args:
        model: the decoder `Transformer` or a `CausalLM`.
        tokenizer: decodes ids into a `Document`.
        prompts: token ids per row (BOS first).
        constraint: row ids -> a constraint already advanced through them.
        prefix: (B, P, prefix_dim) conditioning per row, or None; prefix_mask: (B, P) bool or None.
        max_tokens: longest sequence (prompt included), plus `extra_budget`.
        sampling: a `SamplingConfig`.
        retries: extra attempts for rows that decode empty.
        seed: base seed, or None.
        use_cache, drop_finished, stop: as in `generate`; guidance: the classifier-free guidance scale.
        splice: maps a finished row's ids before decoding (fill-in-the-middle).
        prompt: text stored in each result.
        info: facts stored in each result's info, before attempt/finished/seconds.
        error: the SVGError message when rows are still empty after every attempt.

    Returns:
        One non-empty `SVGResult` per prompt.
    """
    results: list[SVGResult | None] = [None] * len(prompts)
    todo = list(range(len(prompts)))
    for attempt in range(retries + 1):
        start = time.perf_counter()
        rows = [prompts[i] for i in todo]
        tokens, mask = left_pad(rows, PAD_ID)
        budget = max_tokens - min(len(r) for r in rows) + extra_budget
        out = generate(
            model, tokens, prompt_mask=mask, max_new_tokens=max(budget, 1), sampling=sampling,
            prefix=None if prefix is None else prefix[todo], prefix_mask=None if prefix_mask is None else prefix_mask[todo],
            guidance=Guidance(guidance), stop_tokens=[stop], constraints=[constraint(r) for r in rows], pad_id=PAD_ID,
            use_cache=use_cache, drop_finished=drop_finished, seed=None if seed is None else seed + 7919 * attempt,
        )
        seconds = (time.perf_counter() - start) / len(rows)
        for row, new, finished in zip(todo, out.sequences(), out.finished.tolist(), strict=True):
            ids = list(prompts[row]) + new
            if splice is not None:
                ids = splice(ids)
            document = tokenizer.decode(ids, strict=False)
            if document.elements:
                facts = {**(info or {}), "attempt": attempt, "finished": bool(finished), "seconds": seconds}
                results[row] = SVGResult(document, tuple(ids), prompt, facts)
        todo = [i for i, r in enumerate(results) if r is None]
        if not todo:
            return results
    raise SVGError(error)
