"""How much does an IconShop model's prompt change what it predicts? Per-token NLL of training icons under their own
name, no prompt and a wrong name.

    python -m scripts.prompt_conditioning [--model DIR] [--names heart star bell] [--out REPORT.json]

For each name, up to `--per-name` training-split icons with exactly that name are scored three ways (teacher forced,
the model's full icon, first `max_tokens`): prompted with the name, with "" (the unconditional prompt classifier-free
guidance uses) and with `--wrong` ("tree" for an icon named like it). A model that ties text to shape predicts its
icons much better with their own name than without it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAMES = ("heart", "star", "bell", "camera", "home", "mail", "calendar", "cloud", "lock", "trash", "music", "search")


def icon_nll(pipe, ids: list[int], prompt: str) -> float:
    """Mean next-token NLL (nats) of the token ids `ids` after `prompt` under the pipeline's model."""
    import torch

    from gfx.backbones.transformer import batch_loss

    prefix, prefix_mask = pipe.encode_prompt(prompt)
    with torch.no_grad():
        return float(batch_loss(pipe.model, {"tokens": torch.tensor([ids]), "prefix": prefix,
                                             "prefix_mask": prefix_mask}))


def main(argv: list[str] | None = None) -> dict:
    import numpy as np
    import torch

    from gfx.data.icons import load_icons
    from gfx.models import model_path
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.iconshop import IconShop

    parser = argparse.ArgumentParser(prog="scripts.prompt_conditioning")
    parser.add_argument("--model", default=None, help="an IconShop directory (default: the shipped one)")
    parser.add_argument("--names", nargs="+", default=list(NAMES))
    parser.add_argument("--per-name", type=int, default=4)
    parser.add_argument("--wrong", default="car", help="the wrong name every icon is also scored under")
    parser.add_argument("--out", type=Path, default=None, help="write the report here as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pipe = IconShop.from_pretrained(args.model or model_path("iconshop"))
    pipe.model.eval()
    training = load_icons(split="train")
    rows = []
    for name in args.names:
        wrong = args.wrong if name != args.wrong else "tree"
        icons = [r for r in training if r.name == name][: args.per_name]
        for record in icons:
            ids = pipe.tokenizer.encode(parse_svg(record.svg))[: pipe.config.max_tokens]
            row = {"name": name, "source": record.source, "own": icon_nll(pipe, ids, name),
                   "empty": icon_nll(pipe, ids, ""), "wrong": icon_nll(pipe, ids, wrong)}
            rows.append(row)
            print(f"{name:12s} {record.source:10s} own {row['own']:.3f}  empty {row['empty']:.3f}  "
                  f"wrong {row['wrong']:.3f}", flush=True)
    if not rows:
        raise SystemExit("no training icon has any of these names")
    mean = {key: float(np.mean([r[key] for r in rows])) for key in ("own", "empty", "wrong")}
    print(f"{len(rows)} icons, mean NLL per token: own {mean['own']:.3f}  empty {mean['empty']:.3f}  "
          f"wrong {mean['wrong']:.3f}")
    report = {"model": str(args.model or "shipped"), "icons": len(rows), "mean_nll": mean, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
