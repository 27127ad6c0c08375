"""`gfx mesh ...`: generate, encode, decode, render part-based meshes."""

from __future__ import annotations

from pathlib import Path

import typer

from gfx.cli.app import mesh_app
from gfx.cli.common import read_input, user_errors


@mesh_app.command("generate")
def mesh_generate(
    prompt: str = typer.Argument(..., help='What to build, e.g. "a wooden chair with four legs".'),
    seed: int | None = typer.Option(None, help="Random seed."),
    model: Path | None = typer.Option(None, help="FullPart checkpoint directory (default: the shipped one)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output mesh: .glb (one node per part), .obj or .ply."),
) -> None:
    """Text -> part-based mesh; also writes a preview PNG beside it."""
    import gfx
    from gfx.mesh.render import preview

    with user_errors():
        mesh = gfx.mesh.generate(prompt, seed=seed, model=model)
        mesh.export(output)
        png = preview(mesh, output.with_suffix(".png"))
        typer.echo(f"{output}\n{png}\nparts: {', '.join(mesh.names)}")


@mesh_app.command("edit")
def mesh_edit(
    source: Path = typer.Argument(..., help="Input part mesh (.glb from `gfx mesh generate`, or any mesh with named parts)."),
    part: str = typer.Option(..., "--part", help='Part name ("backrest", "leg_2") or label ("leg": all legs).'),
    prompt: str = typer.Option(..., "--prompt", help='What the part should become, e.g. "a tall slatted backrest".'),
    output: Path = typer.Option(..., "-o", "--output", help="Output mesh (.glb, .obj or .ply)."),
    relayout: bool = typer.Option(False, help="Also take the part's box(es) from a layout sampled for the prompt."),
    seed: int | None = typer.Option(None, help="Random seed (with --relayout)."),
    model: Path | None = typer.Option(None, help="FullPart checkpoint directory (default: the shipped one)."),
) -> None:
    """Regenerate one part of a mesh for a prompt, keeping the others; also writes a preview PNG."""
    import gfx
    from gfx.mesh.render import preview

    with user_errors():
        read_input(source)
        mesh = gfx.mesh.edit(source, part=part, prompt=prompt, seed=seed, relayout=relayout, model=model)
        mesh.export(output)
        png = preview(mesh, output.with_suffix(".png"))
        typer.echo(f"{output}\n{png}\nparts: {', '.join(mesh.names)}")


@mesh_app.command("encode")
def mesh_encode(
    source: Path = typer.Argument(..., help="Input mesh (.glb, .obj, .ply, .stl)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output codes (.npz)."),
    model: Path | None = typer.Option(None, help="VAT checkpoint directory (default: the shipped one)."),
    candidates: int | None = typer.Option(
        None, min=1, help="Encodings compared, the closest reconstruction kept (default: the model's; 1 is fastest)."
    ),
) -> None:
    """Mesh -> VAT tokens (multi-scale residual codes)."""
    import gfx

    with user_errors():
        read_input(source)
        gfx.mesh.encode(source, model=model, candidates=candidates).save(output)
        typer.echo(str(output))


@mesh_app.command("decode")
def mesh_decode(
    source: Path = typer.Argument(..., help="VAT codes (.npz) from `gfx mesh encode`."),
    output: Path = typer.Option(..., "-o", "--output", help="Output mesh (.glb, .obj, .ply)."),
    model: Path | None = typer.Option(None, help="VAT checkpoint directory (default: the shipped one)."),
) -> None:
    """VAT tokens -> mesh."""
    import gfx

    with user_errors():
        read_input(source)
        gfx.mesh.decode(source, model=model).export(output)
        typer.echo(str(output))


@mesh_app.command("render")
def mesh_render(
    source: Path = typer.Argument(..., help="Input mesh (.glb, .obj, .ply, .stl)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Output PNG (default: IN with .png)."),
    size: int = typer.Option(256, help="Side of each view in pixels."),
) -> None:
    """Render a four-view preview PNG of a mesh (numpy rasterizer, no GPU)."""
    from gfx.mesh.render import preview
    from gfx.mesh.structures import load_part_mesh

    with user_errors():
        read_input(source)
        typer.echo(str(preview(load_part_mesh(source), output or source.with_suffix(".png"), size=size)))
