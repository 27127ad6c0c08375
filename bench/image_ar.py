"""Autoregressive text -> image speed: seconds per 64 px image for Hita and xAR (mini presets) and the KV-cache
speedup, each against its own uncached decoding measured in the same run (issue 21 target: >= 3x).

    python -m bench.image_ar [--prompts 2] [--repeats 2] [--steps 20] [--batch 8]

One torch thread, CPU process time (wall time beside it). Models come from models/hita-mini and models/xar-mini
when present, else random-weight mini presets (the same architecture and speed), and the table says which. Cached
and uncached decoding give the same tokens / velocities (tests/image/test_hita.py, test_xar.py), so only the time
differs. Writes bench/results/image_ar.json.

xAR's speedup is bounded by its model: with 4 cell entities every flow step still runs the 64 tokens of the entity
being sampled, so uncached decoding does only about 2.6x the multiply-adds of cached decoding (2.5x the tokens at 10
steps, 2.6x at 20); the measured ratio sits a little above that, and what the cached path spent beyond the model is
gone (masks built once per entity, one time embedding per noise level). Hita caches all but one token per step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from bench.timing import timed  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "image_ar.json"
PROMPTS = ["a large red circle to the left of a large blue star", "a large green heart above a large yellow triangle"]


def load(name: str):
    """(pipeline, what it is) for "hita" or "xar"."""
    from gfx.image.hita import HitaPipeline, HitaTokenizer, HitaTokenizerConfig
    from gfx.image.pipeline import load_default
    from gfx.image.xar import XAR, XARConfig, XARPipeline
    from gfx.models import MODELS_DIR

    directory = f"{name}-mini"
    if (MODELS_DIR / directory).is_dir():
        return load_default(directory), f"models/{directory}"
    torch.manual_seed(0)
    if name == "hita":
        tokenizer = HitaTokenizer(HitaTokenizerConfig.from_name("mini"))
        pipe = HitaPipeline(tokenizer, HitaPipeline.new_generator(tokenizer.config, "mini")).eval()
    else:
        pipe = XARPipeline(XAR(XARConfig.from_name("mini")).eval())
    return pipe, "RANDOM-weight mini preset"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="xAR flow steps per entity")
    parser.add_argument("--batch", type=int, default=8, help="images per call (one prompt, classifier-free guidance)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = {}
    for name in ("hita", "xar"):
        pipe, what = load(name)
        best = {}
        for _ in range(args.repeats):
            for cache in (True, False):
                for prompt in PROMPTS[: args.prompts]:
                    cpu, wall = timed(lambda f=pipe, p=prompt, c=cache: f(p, n=args.batch, seed=0, steps=args.steps,
                                                                          use_cache=c))
                    key = "cached" if cache else "uncached"
                    best.setdefault(key, {}).setdefault(prompt, (cpu, wall))
                    best[key][prompt] = min(best[key][prompt], (cpu, wall))
        per_image = {k: sum(c for c, _ in v.values()) / len(v) / args.batch for k, v in best.items()}
        wall = {k: sum(w for _, w in v.values()) / len(v) / args.batch for k, v in best.items()}
        rows[name] = {"model": what, "s_per_image": round(per_image["cached"], 3),
                      "s_per_image_uncached": round(per_image["uncached"], 3),
                      "wall_s_per_image": round(wall["cached"], 3),
                      "kv_cache_speedup": round(per_image["uncached"] / per_image["cached"], 2)}
    print(f"{'model':6} {'s/image':>8} {'no cache':>9} {'speedup':>8}  weights")
    for name, r in rows.items():
        print(f"{name:6} {r['s_per_image']:8.3f} {r['s_per_image_uncached']:9.3f} {r['kv_cache_speedup']:7.2f}x  "
              f"{r['model']}")
    report = {"machine": f"{platform.machine()}, 1 torch thread", "xar_steps": args.steps, "batch": args.batch,
              "models": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
