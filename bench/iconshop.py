"""Text -> icon speed of the shipped IconShop model on this CPU.

Measures, in one run, the median seconds per icon (n=1, guidance on, grammar on, the model's reranking: the
shipped model draws 8 candidates in one batch and keeps the best) with the KV cache, and
the same prompts and seeds without the cache as the baseline; the two must give identical icons.
Target (issue 4): <= 1 s median per icon with the cache.

    python -m bench iconshop [--model DIR] [--prompts N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

PROMPTS = ["house", "arrow left", "heart", "camera", "user", "settings gear", "cloud rain", "lock", "music note",
           "star", "trash can", "bell", "calendar", "mail", "search", "download"]


def main(argv: list[str] | None = None) -> dict:
    import torch

    from gfx.models import model_path
    from gfx.svg.iconshop import IconShop

    parser = argparse.ArgumentParser(prog="bench.iconshop")
    parser.add_argument("--model", default=None)
    parser.add_argument("--prompts", type=int, default=len(PROMPTS))
    args = parser.parse_args(argv or [])
    torch.set_num_threads(1)
    pipe = IconShop.from_pretrained(args.model or model_path("iconshop"))
    prompts = PROMPTS[: args.prompts]
    pipe("warm up", seed=0)

    def run(use_cache: bool) -> tuple[list[float], list[tuple[int, ...]]]:
        pipe.config = pipe.config.replace(use_cache=use_cache)
        seconds, tokens = [], []
        for i, prompt in enumerate(prompts):
            start = time.perf_counter()
            [result] = pipe(prompt, n=1, seed=i)
            seconds.append(time.perf_counter() - start)
            tokens.append(result.tokens)
        return seconds, tokens

    cached, cached_tokens = run(True)
    uncached, uncached_tokens = run(False)
    report = {
        "model": os.path.relpath(args.model or model_path("iconshop"), Path(__file__).resolve().parents[1]),
        "prompts": len(prompts),
        "candidates": pipe.config.candidates,
        "median_tokens": statistics.median(len(t) for t in cached_tokens),
        "cached_median_s": statistics.median(cached),
        "uncached_median_s": statistics.median(uncached),
        "speedup": statistics.median(uncached) / statistics.median(cached),
        "identical_icons": cached_tokens == uncached_tokens,
        "target_median_s": 1.0,
    }
    print(f"{'':24}{'median s/icon':>14}")
    print(f"{'with KV cache':24}{report['cached_median_s']:>14.3f}")
    print(f"{'without (baseline)':24}{report['uncached_median_s']:>14.3f}")
    print(f"speedup {report['speedup']:.2f}x, identical icons: {report['identical_icons']}, "
          f"target <= {report['target_median_s']} s: {'met' if report['cached_median_s'] <= 1.0 else 'MISSED'}")
    out = Path(__file__).parent / "results" / "iconshop.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
