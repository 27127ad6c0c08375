"""The one model-card writer: `models/<name>/README.md` and `metrics.json` from a recipe's structured facts.

A recipe gives a `Card` (prose, run-history lines, `Table`s built from its evaluation report, a Python
snippet); `render_card` lays every card out the same way:

    ---  YAML front matter: license, datasets, library gfx, tags  ---
    # name, summary | ## Data | ## Recipe (the exact `gfx train ... --config` command) | ## Run history
    ## Metrics (tables, then notes) | ## Use (Python)

The facts themselves (every measured figure) go to `metrics.json` unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gfx.files import write_text

LICENSE = "mit"
"""The licence of the shipped weights (the project's)."""


@dataclass(frozen=True)
class Table:
    """A metrics table: a caption line, column names and rows of already formatted cells."""

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Card:
    """A model card's content, as facts and prose; `render_card` does the layout.

    Args:
        title: the heading (usually the model directory name).
        summary: what the model is, in a paragraph.
        datasets: the training data sources (front matter).
        tags: front-matter tags.
        data: the training data, in a paragraph.
        run: run-history lines (steps, wall time, losses, warm starts).
        metrics: evaluation tables.
        notes: paragraphs after the tables (how to read them, status).
        use: a Python snippet that loads and runs the model.
    """

    title: str
    summary: str
    datasets: Sequence[str]
    tags: Sequence[str]
    data: str
    run: Sequence[str]
    metrics: Sequence[Table]
    notes: Sequence[str]
    use: str


def render_card(card: Card, command: str, schedule: str) -> str:
    """The card as Markdown; `command` is the `gfx train` line, `schedule` describes its config."""
    lines = ["---", f"license: {LICENSE}", "library_name: gfx", "datasets:"]
    lines += [f"- {json.dumps(d)}" for d in card.datasets]
    lines += ["tags:"] + [f"- {t}" for t in card.tags] + ["---", "", f"# {card.title}", "", card.summary, ""]
    lines += ["## Data", "", card.data, ""]
    lines += ["## Recipe", "", f"    {command}", "", schedule + ".", ""]
    lines += ["## Run history", ""] + [f"- {line}" for line in card.run] + [""]
    if card.metrics or card.notes:
        lines += ["## Metrics", ""]
        for table in card.metrics:
            lines += [table.caption, "", markdown_table(table.columns, table.rows), ""]
        for note in card.notes:
            lines += [note, ""]
    lines += ["## Use", "", "```python", card.use.strip(), "```"]
    return "\n".join(lines) + "\n"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table of formatted cells."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def write_card(out_dir: str | Path, card: Card, facts: dict, command: str, schedule: str) -> None:
    """Write `facts` as `out_dir/metrics.json` and the rendered card as `out_dir/README.md`, atomically."""
    out_dir = Path(out_dir)
    write_text(out_dir / "metrics.json", json.dumps(facts, indent=2, default=str) + "\n")
    write_text(out_dir / "README.md", render_card(card, command, schedule))


def run_lines(facts: dict, loss: str, steps: str | None = None, machine_note: str = "") -> list[str]:
    """The run-history lines of a single-model run: parameters, steps and wall time, losses, its history note.

    Args:
        facts: the card facts (`parameters`, `steps`, `train_wall_time_s`, `device`, `machine`, losses).
        loss: what the losses measure, e.g. "next-token cross-entropy".
        steps: how to state the steps (default: the number).
        machine_note: appended to the machine description, e.g. ", a machine shared with other jobs".
    """
    lines = [f"parameters: {facts['parameters']:,}",
             f"steps: {steps or facts['steps']}; wall time {minutes(facts['train_wall_time_s'])} on {facts['device']} "
             f"({facts['machine']}{machine_note})",
             f"final train loss {facts['train_loss']}, validation loss {facts['val_loss']} ({loss})"]
    if facts.get("history_note"):
        lines.append(f"how the run came about: {facts['history_note']}")
    return lines


def minutes(seconds: float) -> str:
    """A wall time for a card: "281 min"."""
    return f"{seconds / 60:.0f} min"
