"""`gfx train NAME` and `gfx eval NAME`: the registered recipes and evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gfx.cli.app import app
from gfx.cli.common import progress_bar, user_errors


@app.command("train")
def train_recipe(
    recipe: str = typer.Argument(..., help="Recipe name, e.g. iconshop, icon-clip."),
    out: Path | None = typer.Option(None, "--out", help="Output model directory (default: the recipe's)."),
    steps: int | None = typer.Option(None, help="Total optimizer steps (default: the recipe's)."),
    resume: bool = typer.Option(True, "--resume/--restart", help="Continue from the last checkpoint if any."),
    preset: str | None = typer.Option(None, help="Model preset, for recipes that have several sizes."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Examples per step (default: the recipe's)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: the recipe's)."),
    device: str | None = typer.Option(None, help="cpu, cuda, ... (default: CUDA when available)."),
    init_from: Path | None = typer.Option(None, "--init-from", help="Start from this saved model's weights."),
) -> None:
    """Train a model from the committed data with its recipe, and write its model card."""
    import inspect

    from gfx.recipes import get_recipe

    with user_errors():
        run = get_recipe(recipe)
        given = {"out_dir": out, "steps": steps, "preset": preset, "batch_size": batch_size, "lr": lr,
                 "device": device, "init_from": init_from}
        options = {k: v for k, v in given.items() if v is not None}
        unknown = sorted(set(options) - set(inspect.signature(run).parameters))
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise ValueError(f"recipe {recipe!r} does not take {flags}; see its docstring for its options")
        update, stop = progress_bar()

        def progress(p) -> None:
            update(p.step, p.steps, recipe)

        try:
            card = run(resume=resume, progress=progress, **options)
        finally:
            stop()
        typer.echo(json.dumps(card, indent=2, default=str))




# --- gfx eval -----------------------------------------------------------------------------------


@app.command("eval")
def evaluate(
    task: str = typer.Argument(..., help="What to evaluate, e.g. roundtrip, iconshop."),
    split: str | None = typer.Option("test", help="Corpus split: train, val, test, or all."),
    limit: int = typer.Option(0, help="Evaluate at most this many items (0: all)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Also save the report as JSON here."),
) -> None:
    """Evaluate a task on a corpus split; prints the report as JSON (and saves it with -o)."""

    from gfx.files import write_text
    from gfx.recipes import get_evaluation

    with user_errors():
        run = get_evaluation(task)
        update, stop = progress_bar()
        try:
            report = run(split=None if split == "all" else split, limit=limit, progress=update)
        finally:
            stop()
        text = json.dumps(report, indent=2, default=str)
        if output is not None:
            write_text(output, text + "\n")
        typer.echo(text)
