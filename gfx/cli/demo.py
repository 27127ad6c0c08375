"""`gfx demo`: the Gradio studio."""

from __future__ import annotations

from pathlib import Path

import typer

from gfx.cli.app import app
from gfx.cli.common import UsageError, user_errors


@app.command("demo")
def demo(
    port: int = typer.Option(7860, help="Port on 127.0.0.1."),
    share: bool = typer.Option(False, "--share", help="Also open a public gradio.live link (off by default)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the studio in a browser tab."),
    model: Path | None = typer.Option(None, help="IconShop checkpoint directory (default: the shipped one)."),
    vector_model: Path | None = typer.Option(None, help="StarVector checkpoint directory (default: the shipped one)."),
    mesh_model: Path | None = typer.Option(None, help="FullPart checkpoint directory (default: the shipped one)."),
    image_model: Path | None = typer.Option(None, help="Text -> image pipeline directory (default: the shipped one)."),
) -> None:
    """Launch the Gradio studio (text -> icon, image -> SVG, mesh, batch) on 127.0.0.1 until Ctrl-C."""
    with user_errors():
        if not 1 <= port <= 65535:
            raise UsageError(f"--port must be 1..65535, not {port}")
        for option, directory in (("--model", model), ("--vector-model", vector_model), ("--mesh-model", mesh_model),
                                  ("--image-model", image_model)):
            if directory is not None and not directory.is_dir():
                raise UsageError(f"{option} {directory} is not a directory")
        from gfx.apps.studio import launch
        from gfx.runtime import optional_import

        try:
            optional_import("gradio")
        except ImportError as err:
            raise UsageError(str(err)) from None
        try:
            launch(port, share=share, open_browser=not no_browser, model_dir=model and str(model),
                   vector_model_dir=vector_model and str(vector_model), mesh_model_dir=mesh_model and str(mesh_model),
                   image_model_dir=image_model and str(image_model))
        except OSError as err:  # e.g. the port is taken
            raise UsageError(str(err)) from None
