"""Image -> SVG: our default method beside vtracer, on corpus test icons or on colour artwork.

One run, the same images for every method (`gfx.recipes.vectorize.evaluate_vectorize`): MSE, SSIM, SVG
bytes, validity, median wall and CPU seconds per image. On icons (128 px) vtracer runs binary on each colour
layer, with its most compact accurate setting (polygon, path_precision=1, filter_speckle=0) and its default
spline mode; on colour artwork (Twemoji and flat-color-icons fetched from npm, 256 and 512 px) it runs in its
own colour mode on the whole image at native resolution, polygon (the strongest vtracer setting measured)
and default spline. Issue 18's targets: the default method Pareto-dominates (MSE no worse AND bytes no more)
every vtracer row on both sets, at <= 0.5 s median per 256 px colour image.

    python -m bench.vectorize [--set icons|colour] [--limit N] [--methods a,b,...] [--sheet PNG]
    python -m bench.vectorize --set colour --sheet docs/images/image-to-svg-colour.png   # the README sheet
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ICON_METHODS = "centerline+refine,neural+refine,neural,vtracer,vtracer-spline"
COLOUR_METHODS = "centerline+refine,vtracer-color,vtracer-color-spline"


def main(argv: list[str] | None = None) -> dict:
    import torch

    from gfx.recipes.vectorize import evaluate_vectorize

    parser = argparse.ArgumentParser(prog="bench.vectorize")
    parser.add_argument("--set", dest="eval_set", default="icons", choices=("icons", "colour"))
    parser.add_argument("--limit", type=int, default=None, help="images (default: 40 icons, all 50 colour)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--methods", default=None)
    parser.add_argument("--sheet", default=None, help="contact sheet PNG (default: bench/results/vectorize[-colour].png)")
    args = parser.parse_args(argv or [])
    torch.set_num_threads(1)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    colour = args.eval_set == "colour"
    stem = "vectorize-colour" if colour else "vectorize"
    methods = (args.methods or (COLOUR_METHODS if colour else ICON_METHODS)).split(",")
    limit = args.limit if args.limit is not None else (0 if colour else 40)
    report = evaluate_vectorize(split="test", limit=limit, methods=tuple(methods), set=args.eval_set,
                                model=args.model, sheet=args.sheet or str(results / f"{stem}.png"), sheet_rows=10)
    tables = report["sizes"] if colour else {report["size"]: report}
    for size, table in tables.items():
        print(f"{report['images']} {'colour artwork images' if colour else 'test icons'} at {size} px")
        print(f"{'method':22}{'MSE':>10}{'SSIM':>8}{'bytes':>8}{'valid':>7}{'s/img':>8}{'cpu s':>8}")
        for name, m in table["methods"].items():
            if m["mse"] is None:
                print(f"{name:22} all {m['failures']} failed")
                continue
            print(f"{name:22}{m['mse']:>10.5f}{m['ssim']:>8.3f}{m['bytes']:>8.0f}{m['validity']:>7.0%}"
                  f"{m['seconds_median']:>8.3f}{m['cpu_seconds_median']:>8.3f}")
        for pair, dominates in table["pareto"].items():
            print(f"  {pair}: {'Pareto-dominates' if dominates else 'does NOT Pareto-dominate'} "
                  "(MSE no worse and bytes no more)")
    for name, setting in report["settings"].items():
        print(f"{name}: {setting}")
    (results / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
