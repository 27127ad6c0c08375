"""Choose an autoregressive image model's sampling settings (xAR, Hita) on validation prompts.

    python -m scripts.image_ar_sampling --model models/xar-mini \\
        --settings guidance=3 guidance=4.5,guidance_ramp=true --out REPORT.json
    python -m scripts.image_ar_sampling --model models/hita-mini --settings guidance=3 guidance=3,top_k=64

Each setting (comma-separated fields of the pipeline's saved sampling settings; `guidance` is the scale) draws the
prompts and seeds of `gfx eval image-ar --split val` (the split's random stream) and is scored as that evaluation
scores a model: prompt accuracy by the world's detectors, with the spread over seeds, and FID on the world's own
features.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def parse_setting(text: str) -> dict:
    """"guidance=4.5,guidance_ramp=true" -> {"guidance": 4.5, "guidance_ramp": True}."""
    setting = {}
    for field in text.split(","):
        key, _, value = field.partition("=")
        if not value:
            raise SystemExit(f"a setting is key=value[,key=value...], got {text!r}")
        value = value.strip()
        value = value.lower() if value.lower() in ("true", "false") else value
        try:
            setting[key.strip()] = json.loads(value)  # numbers and booleans
        except json.JSONDecodeError:
            setting[key.strip()] = value
    return setting


def main(argv: list[str] | None = None) -> dict:
    from gfx.checkpoint import load_pretrained
    from gfx.recipes.image_ar_eval import evaluate_image_ar

    parser = argparse.ArgumentParser(prog="scripts.image_ar_sampling")
    parser.add_argument("--model", required=True, help="an xAR or Hita pipeline directory")
    parser.add_argument("--settings", nargs="+", required=True, help="key=value[,key=value...] per setting")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=0, help="at most this many prompts (0: the evaluation's 40)")
    parser.add_argument("--out", type=Path, default=None, help="write the report here as JSON")
    args = parser.parse_args(argv)

    models = {}
    for text in args.settings:
        pipe = load_pretrained(args.model)  # one per setting, so that settings do not leak between them
        for key, value in parse_setting(text).items():
            if not hasattr(pipe.settings, key):
                raise SystemExit(f"{type(pipe.settings).__name__} has no field {key!r}")
            setattr(pipe.settings, key, value)  # the pipeline's defaults read its settings
        models[text] = pipe
    report = evaluate_image_ar(args.split, args.limit, models=models)
    report["model"] = args.model
    for label, entry in report["models"].items():
        print(f"{label:32s} accuracy {entry['accuracy']:.3f} +- {entry['seed_std']:.3f}  FID {entry['fid']:.1f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
