"""Does a text -> image model of the 2D world read words its captions never use? Single-object prompts in the
world's words ("a large red star") and in synonyms ("a big crimson star"), scored by the world's detectors.

    python -m scripts.paraphrase_probe models/shapes-diffusion DIR ... --out bench/results/shapes-diffusion-paraphrase.json

Every shape with each colour that has a synonym (5 x 6 prompts), `--seeds` samples each at the pipeline's
guidance, 25 steps. Reports per model and wording: the asked shape in the asked colour drawn (`both`), and the
largest object's shape and colour alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

SYNONYMS = {"red": "crimson", "green": "emerald", "blue": "navy", "yellow": "golden", "purple": "violet",
            "orange": "tangerine"}
WORDINGS = {"world": "a large {color} {shape}", "synonyms": "a big {synonym} {shape}"}


def probe(directory: str, seeds: int) -> dict:
    """{wording: {both, shape, colour, images}} for the pipeline saved in `directory`."""
    import numpy as np

    from gfx.data.shapes2d.detect import detect
    from gfx.data.shapes2d.world import SHAPES
    from gfx.image.pipeline import load_pipeline
    from gfx.recipes.image_eval import has_objects, main_object

    pipe = load_pipeline(directory)
    report = {}
    for wording, template in WORDINGS.items():
        both, shape_ok, colour_ok = [], [], []
        for shape, color in itertools.product(SHAPES, SYNONYMS):
            prompt = template.format(color=color, shape=shape, synonym=SYNONYMS[color])
            for result in pipe(prompt, n=seeds, seed=0, steps=25):
                found = detect(result.image)
                largest = main_object(found)
                both.append(has_objects(found, [(shape, color)]))
                shape_ok.append(largest is not None and largest.shape == shape)
                colour_ok.append(largest is not None and largest.color == color)
        report[wording] = {"both": round(float(np.mean(both)), 4), "shape": round(float(np.mean(shape_ok)), 4),
                           "colour": round(float(np.mean(colour_ok)), 4), "images": len(both)}
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="pipeline directories")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    reports = {directory: probe(directory, args.seeds) for directory in args.models}
    print(json.dumps(reports, indent=1))
    if args.out:
        args.out.write_text(json.dumps(reports, indent=1) + "\n")
    return reports


if __name__ == "__main__":
    main()
