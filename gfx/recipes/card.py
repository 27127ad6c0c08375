"""What every recipe's model card (`models/<name>/README.md` + `metrics.json`) reports about a run.

    card = {"preset": "mini", **run_facts(result), **machine_facts(device), "eval": report}
    write_model_card(out_dir, card, markdown_text)

`run_facts` turns a `gfx.train.TrainResult` into the card's numbers, also for a run that was resumed
after it had finished (the losses then come from the checkpoint's history).
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

import torch

from gfx.files import write_text
from gfx.train import TrainResult


def run_facts(result: TrainResult) -> dict:
    """{"steps", "train_loss", "val_loss", "train_wall_time_s"} of a finished (or resumed) run."""
    train_loss, val_loss = result.train_loss, result.val_loss
    if math.isnan(train_loss) and result.history:
        train_loss = result.history[-1]["loss"]
    if val_loss is None:
        val_loss = next((r["val_loss"] for r in reversed(result.history) if "val_loss" in r), None)
    return {
        "steps": result.step,
        "train_loss": round(float(train_loss), 4),
        "val_loss": None if val_loss is None else round(float(val_loss), 4),
        "train_wall_time_s": round(result.elapsed_s),
    }


def machine_facts(device: str | torch.device) -> dict:
    """{"device", "machine"}: where the run trained, e.g. "cpu", "x86_64, 1 torch threads"."""
    return {"device": str(device), "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads"}


def write_model_card(out_dir: str | Path, card: dict, text: str) -> None:
    """Write `card` as `out_dir/metrics.json` and the markdown `text` as `out_dir/README.md`, atomically."""
    out_dir = Path(out_dir)
    write_text(out_dir / "metrics.json", json.dumps(card, indent=2, default=str) + "\n")
    write_text(out_dir / "README.md", text)
