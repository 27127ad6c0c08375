"""What the model cards of the 3D recipes (`gfx train fullpart`, `gfx train vat`) report about a run.

`run_facts` turns a `gfx.train.TrainResult` into the card's numbers, also for a run that was resumed
after it had finished (the losses then come from the checkpoint's history). Training state lives under
`gfx.train.RUNS_DIR/<model name>/<component>/`.
"""

from __future__ import annotations

import math

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
