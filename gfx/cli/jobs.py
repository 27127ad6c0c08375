"""`gfx render JOBS.jsonl`: batch jobs with a manifest, local or Ray workers."""

from __future__ import annotations

from pathlib import Path

import typer

from gfx.cli.app import app
from gfx.cli.common import ITEMS_FAILED, UsageError, choices, progress_bar, user_errors
from gfx.jobs.run import EXECUTORS

Executor = choices("Executor", EXECUTORS)


@app.command("render")
def render_jobs(
    jobs: Path = typer.Argument(..., help="Job file: one JSON object per line (format: `pydoc gfx.jobs`)."),
    out_dir: Path = typer.Option(..., "-o", "--out-dir", help="Output folder; gets manifest.jsonl."),
    workers: int | None = typer.Option(None, help="Worker processes (ray: tasks in flight). Default: CPUs."),
    executor: Executor = typer.Option("local", help="local (processes here) or ray (a Ray cluster)."),
    address: str | None = typer.Option(None, help="Ray cluster address, e.g. HOST:6379 (default $RAY_ADDRESS)."),
    max_retries: int = typer.Option(2, help="Re-runs retry a failed job until it has had 1 + K attempts."),
    timeout: float = typer.Option(120.0, help="Seconds one job may run before it is stopped as failed."),
) -> None:
    """Run a batch job file (render-svg, render-mesh, generate-svg, vectorize, generate-mesh, generate-image;
    fields: `pydoc gfx.jobs.kinds`); re-running resumes and retries failed jobs."""
    from gfx.jobs import run_jobs

    bar = []  # started at the first progress call, so a bad job file prints only its error

    def update(done: int, total: int, label: str) -> None:
        if not bar:
            bar.extend(progress_bar())
        bar[0](done, total, label)

    with user_errors():
        if not jobs.is_file():
            raise UsageError(f"{jobs} does not exist or is not a file")
        try:
            summary = run_jobs(jobs, out_dir, executor=executor.value, workers=workers, address=address,
                               max_retries=max_retries, timeout=timeout, progress=update)
        except ImportError as err:  # ray not installed
            raise UsageError(str(err)) from None
        finally:
            if bar:
                bar[1]()
    typer.echo(f"{summary.ok} ok, {summary.skipped} already done, {summary.failed} failed; {summary.manifest}")
    if summary.failed:
        shown = ", ".join(summary.failed_ids[:5]) + (", ..." if summary.failed > 5 else "")
        typer.echo(f"gfx: {summary.failed} job(s) failed ({shown}); see error records in {summary.manifest}",
                   err=True)
        raise typer.Exit(ITEMS_FAILED)
