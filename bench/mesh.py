"""Text -> part mesh speed: seconds per object, by stage, and what coarse-to-fine part grids save.

    python -m bench.mesh [--model DIR] [--prompts 8] [--repeats 2]
    python -m bench mesh

One torch thread, CPU process time (these machines are shared; wall time is printed beside it). Each way
generates the same prompts with the same seeds, interleaved `repeats` times; the best repeat counts. Ratios
are against the full way in the same run (issue 17 target: <= 10 s per object):

    full grid   every part's field evaluated on all R^3 cells of its box frame
    shipped     coarse-to-fine (`PartField.probabilities` default): an (R/2)^3 grid, then only the cells
                near the surface at R^3 (`gfx.mesh.voxels.field_grid`)

The stages of the shipped way (layout decoding, part fields, assembly) are timed separately. Without
--model it times the shipped `models/fullpart-mini`. Writes bench/results/mesh.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.timing import timed  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "mesh.json"
PROMPTS = [
    "a wooden chair with four legs and a slatted backrest",
    "a round table with a pedestal base",
    "a floor lamp with a drum shade",
    "a red mug with a handle",
    "a tall bookshelf with four shelves",
    "a double bed with a headboard",
    "a toy car with four wheels",
    "a plane with two engines",
]


def main(argv: list[str] | None = None) -> dict:
    from gfx.backbones.text_encoder import cached_embedding
    from gfx.mesh.fullpart import FullPart
    from gfx.models import model_path

    parser = argparse.ArgumentParser(prog="python -m bench.mesh", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="A FullPart directory (default: the shipped one).")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help=f"Prompts timed (at most {len(PROMPTS)}).")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    directory = args.model or model_path("fullpart")
    pipe = FullPart.from_pretrained(directory)
    prompts = PROMPTS[: args.prompts]
    layouts = [pipe.layout.sample([p], generator=torch.Generator().manual_seed(k))[0] for k, p in enumerate(prompts)]
    texts = [cached_embedding(p) for p in prompts]

    def parts(coarse):
        def run():
            for text, (_, boxes, ids) in zip(texts, layouts, strict=True):
                pipe.parts.probabilities(text, boxes, ids, coarse=coarse)
        return run

    stage_runs = {
        "layout": lambda: [pipe.layout.sample([p], generator=torch.Generator().manual_seed(k)) for k, p in enumerate(prompts)],
        "assembly": lambda: [pipe.assemble(probs, boxes, [pipe.label_names[i] for i in ids])
                             for probs, (_, boxes, ids) in zip(probabilities, layouts, strict=True)],
    }
    probabilities = [pipe.parts.probabilities(t, b, i) for t, (_, b, i) in zip(texts, layouts, strict=True)]
    ways = {"full grid": parts(None), "shipped": parts(0), **stage_runs}
    best = {name: (float("inf"), float("inf")) for name in ways}
    for _ in range(args.repeats):
        for name, run in ways.items():
            cpu, wall = timed(run)
            best[name] = min(best[name], (cpu / len(prompts), wall / len(prompts)))
    per_object = {
        "full grid": best["full grid"][0] + best["layout"][0] + best["assembly"][0],
        "shipped": best["shipped"][0] + best["layout"][0] + best["assembly"][0],
    }
    results = {
        "model": os.path.relpath(directory, Path(__file__).resolve().parents[1]), "prompts": len(prompts), "repeats": args.repeats,
        "parts_per_object": round(float(np.mean([len(b) for _, b, _ in layouts])), 2),
        "grid": pipe.parts.config.grid, "torch_threads": torch.get_num_threads(), "machine": platform.machine(),
        "seconds_per_object": {k: round(v, 3) for k, v in per_object.items()},
        "stage_seconds": {name: round(cpu, 3) for name, (cpu, _) in best.items()},
        "wall_stage_seconds": {name: round(wall, 3) for name, (_, wall) in best.items()},
        "ratio_vs_full_grid": round(per_object["shipped"] / per_object["full grid"], 3),
        "targets": {"seconds_per_object": 10.0},
    }
    print(f"model: {results['model']}, {results['parts_per_object']} parts per object, part grids {results['grid']}^3")
    print(f"{'stage':<10} {'cpu s/object':>13} {'wall s/object':>14}")
    for name, (cpu, wall) in best.items():
        print(f"{name:<10} {cpu:>13.3f} {wall:>14.3f}")
    print(f"seconds per object: shipped {per_object['shipped']:.2f}, full grid {per_object['full grid']:.2f} "
          f"(x{results['ratio_vs_full_grid']:.2f}); target <= 10")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
