"""Rewrite every shipped model card (models/*/README.md) from its metrics.json facts, without training.

    python -m scripts.regenerate_model_cards      # from the repository root

A model directory without `train.json` gets one first, reconstructed from its card's facts: the recipe's
defaults (which are the shipped schedule; this script checks them against the recorded facts), plus the
warm start of the last run where the card names one. Reconstructed values, from the run histories:
- starvector-mini: `init_from` "models/starvector-mini", the first model that then lived there (1,263 steps
  without the pointer head); it is no longer shipped, so a rerun warm-starts from the current weights.
- vat-mini: `init_from` "models/vat-mini", the session-5 model (22,000 steps) that then lived there.
- iconshop-mini: the last of its warm-restarted schedules (18,500 steps, resumed, no `init_from`).
icon-clip's metrics.json is migrated to the shared layout once (retrieval metrics under "eval", the wall
time under "train_wall_time_s"); every figure keeps its value.
"""

from __future__ import annotations

import json

from gfx.files import write_text
from gfx.models import MODELS_DIR
from gfx.recipes import RECIPES, get_recipe
from gfx.recipes.run import TRAIN_CONFIG_NAME, rewrite_card

WARM_STARTS = {"starvector": "models/starvector-mini", "vat": "models/vat-mini"}
"""The `init_from` of the last run of each warm-started shipped model (see the module docstring)."""
ICON_CLIP_EVAL = ("n", "chance_top1", "chance_top5", "image_to_text_top1", "image_to_text_top5", "text_to_image_top1",
                  "text_to_image_top5", "matched_score", "mismatched_score", "fid_val_halves", "temperature")


def migrate_icon_clip(facts: dict) -> dict:
    """The flat icon-clip facts of the first card writer in the shared layout (same values)."""
    if "eval" in facts:
        return facts
    out = {k: v for k, v in facts.items() if k not in ICON_CLIP_EVAL and k != "train_wall_s"}
    out["train_wall_time_s"] = facts["train_wall_s"]
    out["eval"] = {k: facts[k] for k in ICON_CLIP_EVAL}
    return out


def check_schedule(name: str, config, facts: dict) -> None:
    """The config's fields that the card recorded must agree with it."""
    recorded = {"preset": facts.get("preset"), "seed": facts.get("seed"), "lr": facts.get("lr"),
                "batch_size": facts.get("batch_size"), "steps": facts.get("planned_steps", facts.get("steps")),
                "n_per_category": facts.get("n_per_category"), "query_pool": facts.get("query_pool"),
                "text_variants": facts.get("text_variants")}
    for key, value in recorded.items():
        if value is not None and hasattr(config, key) and getattr(config, key) != value:
            raise SystemExit(f"{name}: the recipe's {key} is {getattr(config, key)!r}, the card says {value!r}")


def main() -> None:
    for name in RECIPES:
        recipe = get_recipe(name)
        out_dir = MODELS_DIR / recipe.model_name
        if not (out_dir / "metrics.json").is_file():
            continue  # nothing shipped for this recipe yet
        facts = json.loads((out_dir / "metrics.json").read_text())
        if name == "icon-clip":
            facts = migrate_icon_clip(facts)
            write_text(out_dir / "metrics.json", json.dumps(facts, indent=2) + "\n")
        if not (out_dir / TRAIN_CONFIG_NAME).is_file():
            config = recipe.config_class(init_from=WARM_STARTS.get(name))
            check_schedule(name, config, facts)
            config.to_json(out_dir / TRAIN_CONFIG_NAME)
        rewrite_card(recipe, out_dir)
        print(f"rewrote {out_dir}/README.md")


if __name__ == "__main__":
    main()
