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
    config: Path | None = typer.Option(None, "--config", help="A train.json (e.g. a shipped model's) to start from."),
    out: Path | None = typer.Option(None, "--out", help="Output model directory (default: the recipe's)."),
    steps: int | None = typer.Option(None, help="Total optimizer steps (default: the config's)."),
    resume: bool = typer.Option(True, "--resume/--restart", help="Continue from the last checkpoint if any."),
    preset: str | None = typer.Option(None, help="Model preset, for recipes that have several sizes."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Examples per step (default: the config's)."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: the config's)."),
    device: str | None = typer.Option(None, help="cpu, cuda, ... (default: CUDA when available)."),
    init_from: Path | None = typer.Option(None, "--init-from", help="Start from this saved model's weights."),
    protocol: str | None = typer.Option(
        None, help="Generalization protocol, for recipes that take one: iconshop's concept-disjoint, starvector's "
        "unseen-source."),
    source: str | None = typer.Option(None, help="The icon source the unseen-source protocol holds out."),
) -> None:
    """Train a model from the committed data with its recipe; write train.json and its model card.

    Without --config the recipe's defaults apply (the shipped model's schedule); flags override fields.
    """
    import dataclasses

    from gfx.recipes import get_recipe
    from gfx.recipes.run import train_recipe as run_recipe

    with user_errors():
        entry = get_recipe(recipe)
        schedule = entry.config_class.from_json(config) if config is not None else entry.config_class()
        given = {"steps": steps, "preset": preset, "batch_size": batch_size, "lr": lr,
                 "init_from": None if init_from is None else str(init_from), "protocol": protocol, "source": source}
        fields = {f.name for f in dataclasses.fields(schedule)}
        for name in ("protocol", "source"):
            if given[name] is not None and name not in fields:
                raise ValueError(f"recipe {recipe!r} does not take --{name}")
        update, stop = progress_bar()

        def progress(p) -> None:
            update(p.step, p.steps, recipe)

        try:
            card = run_recipe(entry, out, config=schedule, resume=resume, progress=progress, device=device,
                              **{k: v for k, v in given.items() if v is not None})
        finally:
            stop()
        typer.echo(json.dumps(card, indent=2, default=str))


# --- gfx eval -----------------------------------------------------------------------------------


@app.command("eval")
def evaluate(
    task: str = typer.Argument(..., help="What to evaluate, e.g. roundtrip, iconshop."),
    split: str | None = typer.Option("test", help="Corpus split: train, val, test, or all."),
    limit: int = typer.Option(0, help="Evaluate at most this many items (0: all)."),
    eval_set: str | None = typer.Option(None, "--set", help="Evaluation set, where the task has several "
                                        "(vectorize: icons or colour)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Also save the report as JSON here."),
    model: Path | None = typer.Option(None, help="Model directory, for tasks that take one (default: the shipped)."),
    protocol: str | None = typer.Option(
        None, help="Generalization protocol, for tasks that take one: iconshop's concept-disjoint or cross-designer, "
        "vectorize's unseen-source."),
    source: str | None = typer.Option(
        None, help="The icon source the unseen-source protocol holds out (vectorize; default lucide)."),
    negative_concept: Path | None = typer.Option(
        None, "--negative-concept", help="A Geom-Erasing directory, for image-controls (default: the shipped)."),
    concept: Path | None = typer.Option(
        None, "--concept", help="A learned concept (CoRe), for image-controls (default: the shipped)."),
    baseline_concept: Path | None = typer.Option(
        None, "--baseline-concept", help="The same concept by textual inversion, for image-controls."),
    style_model: Path | None = typer.Option(
        None, "--style-model", help="A StyleTokenizer directory, for image-controls (default: the shipped)."),
    style: str | None = typer.Option(
        None, help="Drawing style of the samples, for tasks that take one (iconshop: outline, the default; filled; "
        "or any)."),
    candidates: int | None = typer.Option(
        None, min=1, help="Samples per icon the model's reranker picks from, for tasks that take it (iconshop; "
        "default: the model's setting)."),
    consensus: float | None = typer.Option(
        None, min=0.0, help="Weight of the candidates' agreement in reranking, for tasks that take it (iconshop; 0: "
        "the reranker alone; default: the model's setting)."),
) -> None:
    """Evaluate a task on a corpus split; prints the report as JSON (and saves it with -o)."""
    import inspect

    from gfx.files import write_text
    from gfx.recipes import get_evaluation

    with user_errors():
        run = get_evaluation(task)
        options = {k: v for k, v in (("model", model and str(model)), ("protocol", protocol), ("set", eval_set),
                                     ("source", source))
                   if v is not None}
        options.update({k: str(v) for k, v in (("negative_concept", negative_concept), ("concept", concept),
                                               ("baseline_concept", baseline_concept), ("style_model", style_model))
                        if v is not None})
        options.update({k: v for k, v in (("candidates", candidates), ("consensus", consensus)) if v is not None})
        if style is not None:
            from gfx.svg.icon_style import style_from_name

            options["style"] = style_from_name(style)
        for name in options:
            if name not in inspect.signature(run).parameters:
                raise ValueError(f"evaluation {task!r} does not take --{name.replace('_', '-')}")
        update, stop = progress_bar()
        try:
            report = run(split=None if split == "all" else split, limit=limit, progress=update, **options)
        finally:
            stop()
        text = json.dumps(report, indent=2, default=str)
        if output is not None:
            write_text(output, text + "\n")
        typer.echo(text)
