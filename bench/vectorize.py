"""Image -> SVG on corpus test icons at 128 px: neural+refine beside vtracer's compact and default settings.

One run, the same icons and renders for every method (`gfx.recipes.vectorize.evaluate_vectorize`):
MSE, SSIM, our token count, SVG bytes, validity, median seconds per image. vtracer runs with its most
compact accurate setting (binary, polygon, path_precision=1, filter_speckle=0) and with its default
spline mode. Issue 7's target: neural+refine Pareto-dominates vtracer's compact setting (MSE no worse
AND bytes no more), 100% validity, <= 3 s median per image.

    python -m bench.vectorize [--limit N] [--model DIR] [--methods neural+refine,vtracer,...]   # or: python -m bench vectorize
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METHODS = "centerline+refine,neural+refine,neural,vtracer,vtracer-spline"


def main(argv: list[str] | None = None) -> dict:
    import torch

    from gfx.recipes.vectorize import evaluate_vectorize

    parser = argparse.ArgumentParser(prog="bench.vectorize")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--model", default=None)
    parser.add_argument("--methods", default=METHODS)
    args = parser.parse_args(argv or [])
    torch.set_num_threads(1)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    report = evaluate_vectorize(split="test", limit=args.limit, methods=tuple(args.methods.split(",")),
                                model=args.model, sheet=str(results / "vectorize.png"))
    print(f"{report['icons']} test icons at {report['size']} px")
    print(f"{'method':16}{'MSE':>10}{'SSIM':>8}{'tokens':>8}{'bytes':>8}{'valid':>7}{'s/img':>8}")
    for name, m in report["methods"].items():
        if m["mse"] is None:
            print(f"{name:16} all {m['failures']} failed")
            continue
        print(f"{name:16}{m['mse']:>10.5f}{m['ssim']:>8.3f}{m['tokens']:>8.0f}{m['bytes']:>8.0f}"
              f"{m['validity']:>7.0%}{m['seconds_median']:>8.3f}")
    for name, setting in report["settings"].items():
        print(f"{name}: {setting}")
    for pair, dominates in report["pareto"].items():
        print(f"{pair}: {'Pareto-dominates' if dominates else 'does NOT Pareto-dominate'} (MSE no worse and bytes no more)")
    (results / "vectorize.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
