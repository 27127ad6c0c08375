"""`gfx data ...`: build the icon corpus and the procedural part dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gfx.cli.app import data_app
from gfx.cli.common import FAILED, UsageError, progress_bar, user_errors


@data_app.command("build-icons")
def data_build_icons(
    out_dir: Path = typer.Option(Path("assets/icons"), "-o", "--out-dir", help="Where the corpus files go."),
    source: list[str] = typer.Option(None, "--source", help="Only these sources (repeatable); default: all."),
) -> None:
    """Fetch the pinned npm icon packages, normalize, dedupe, split, and write the corpus."""
    from gfx.data.icons import ICON_SOURCES
    from gfx.data.npm import NpmError
    from gfx.recipes.icon_corpus import build_icons

    with user_errors():
        unknown = sorted(set(source or []) - set(ICON_SOURCES))
        if unknown:
            raise UsageError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(ICON_SOURCES)}")
        update, stop = progress_bar()
        try:
            summary = build_icons(out_dir=out_dir, sources=source or None, progress=update)
        except NpmError as err:
            typer.echo(f"gfx: error: {err}", err=True)
            raise typer.Exit(FAILED) from None
        finally:
            stop()
        for name, entry in summary["sources"].items():
            typer.echo(f"{name}: {entry['records']} records {entry['splits']}, {entry['skipped']} skipped, "
                       f"{entry['merged']} merged")



@data_app.command("build-parts")
def data_build_parts(
    out_dir: Path = typer.Option(Path(".cache/parts3d"), "-o", "--out-dir", help="Where the dataset goes."),
    per_category: int = typer.Option(500, help="Objects per category."),
    resolution: int = typer.Option(32, help="Per-part occupancy grid resolution."),
) -> None:
    """Generate the procedural part-annotated 3D dataset (seeded, deterministic)."""
    from gfx.recipes.parts3d import build_parts

    with user_errors():
        update, stop = progress_bar()
        try:
            manifest = build_parts(out_dir, per_category, update,
                                   resolution=resolution)
        finally:
            stop()
        typer.echo(json.dumps(manifest, indent=2, default=str)[:2000])
