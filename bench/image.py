"""Text -> image speed: seconds per 64 px image at 25 steps, and what ToMe and a T2IS set cost on top.

    python -m bench.image [--model DIR] [--prompts 4] [--repeats 3] [--steps 25]
    python -m bench image

One torch thread, CPU process time (these machines are shared; wall time is printed beside it). Each way runs the
same prompts and seeds, interleaved `repeats` times; the best repeat counts. Ratios are against plain sampling in
the same run (issue 19 targets: <= 2 s per image, ToMe <= 2x):

    plain     pipe(prompt, seed) per prompt, one image each
    tome      the same with controls=[ToMe()] (two-object prompts, the rule-based grouper)
    set x3    a T2IS set of three images (shared attention for 10 steps), per image

Without --model it times the shipped `models/shapes-diffusion`, or, when that is absent, a random-weight `mini`
preset (the shipped architecture: the same seconds per image) and says so. On random weights ToMe never reaches its
entropy target, so every refinement iteration runs: its ratio is then an upper bound.
Writes bench/results/image.json.
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

RESULTS = Path(__file__).parent / "results" / "image.json"
PROMPTS = [
    "a large red circle to the left of a large blue star",
    "a large green heart above a large yellow triangle",
    "a large purple square to the right of a large orange circle",
    "a large blue triangle below a large red heart",
]


def load(model: str | None):
    """(pipeline, what it is)."""
    from gfx.image.pipeline import ShapesDiffusionConfig, ShapesDiffusionPipeline, load_default
    from gfx.models import MODELS_DIR

    if model:
        return load_default(model), model
    if (MODELS_DIR / "shapes-diffusion" / "model_index.json").is_file():
        return load_default(str(MODELS_DIR / "shapes-diffusion")), "models/shapes-diffusion"
    from gfx.image.tokenizer import clip_tokenizer
    from gfx.recipes.shapes_diffusion import CLIP_BPE

    torch.manual_seed(0)
    pipe = ShapesDiffusionPipeline.build(ShapesDiffusionConfig.from_name("mini"), clip_tokenizer(CLIP_BPE))
    return pipe, "RANDOM-weight mini preset (models/shapes-diffusion is absent; same architecture and speed)"


def main(argv: list[str] | None = None) -> dict:
    from gfx.image.t2is import generate_set
    from gfx.image.tome import ToMe

    parser = argparse.ArgumentParser(prog="python -m bench.image", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="A pipeline directory (default: shipped, else random mini).")
    parser.add_argument("--prompts", type=int, default=4, help=f"Prompts timed (at most {len(PROMPTS)}).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pipe, what = load(args.model)
    prompts = PROMPTS[: args.prompts]

    def plain():
        for k, prompt in enumerate(prompts):
            pipe(prompt, seed=k, steps=args.steps)

    def tome():
        for k, prompt in enumerate(prompts):
            pipe(prompt, seed=k, steps=args.steps, controls=[ToMe()])

    def set_of_three():
        generate_set(pipe, "a large striped {}", ["circle", "star", "heart"], seed=0, steps=args.steps)

    ways = {"plain": (plain, len(prompts)), "tome": (tome, len(prompts)), "set x3": (set_of_three, 3)}
    pipe(prompts[0], seed=0, steps=2, controls=[ToMe()])  # warm-up: first-call allocations
    best = {name: (float("inf"), float("inf")) for name in ways}
    for _ in range(args.repeats):
        for name, (run, images) in ways.items():
            cpu, wall = timed(run)
            best[name] = min(best[name], (cpu / images, wall / images))
    base = best["plain"][0]
    results = {
        "model": what, "steps": args.steps, "image_size": pipe.config.image_size, "prompts": len(prompts),
        "repeats": args.repeats, "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
        "seconds_per_image": {name: round(cpu, 3) for name, (cpu, _) in best.items()},
        "wall_seconds_per_image": {name: round(wall, 3) for name, (_, wall) in best.items()},
        "ratio_vs_plain": {name: round(cpu / base, 2) for name, (cpu, _) in best.items()},
        "targets": {"plain_seconds_per_image": 2.0, "tome_ratio": 2.0},
    }
    print(f"model: {what}")
    print(f"{'way':<8} {'cpu s/image':>12} {'wall s/image':>13} {'x plain':>8}")
    for name in ways:
        cpu, wall = best[name]
        print(f"{name:<8} {cpu:>12.3f} {wall:>13.3f} {cpu / base:>8.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
