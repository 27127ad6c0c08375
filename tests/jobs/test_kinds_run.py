"""The model and mesh job kinds end to end: one small job file through `run_jobs` (local executor, one
worker) with the shipped models; every output is checked against the public API it stands for."""

import json

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

import gfx.mesh
import gfx.svg
from gfx.jobs import read_manifest, run_jobs
from gfx.mesh import Part, PartMesh, load_part_mesh
from gfx.mesh.render import View, preview, render
from gfx.svg.core.metrics import mse, ssim
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render as render_svg
from gfx.svg.vectorization.image_input import load_image

PROMPT, MESH_PROMPT, SIZE = "house", "a wooden chair with four legs", 32
JOBS = [
    {"id": "icons", "kind": "generate-svg", "prompt": PROMPT, "n": 2, "seed": 0, "sizes": [SIZE, 48]},
    {"id": "traced", "kind": "vectorize", "input": "logo.png", "method": "vtracer", "sizes": [SIZE]},
    {"id": "neural", "kind": "vectorize", "input": "logo.png", "method": "neural+refine", "refine_steps": 5,
     "fallback": False},
    {"id": "not-an-image", "kind": "vectorize", "input": "bad.png", "method": "vtracer"},
    {"id": "sheet", "kind": "render-mesh", "input": "chair.glb", "size": SIZE},
    {"id": "views", "kind": "render-mesh", "input": "chair.obj", "size": SIZE, "views": [[0, 0], [90, 30]],
     "separate": True},
    {"id": "not-a-mesh", "kind": "render-mesh", "input": "bad.glb"},
    {"id": "chair", "kind": "generate-mesh", "prompt": MESH_PROMPT, "seed": 0, "size": SIZE},
]


def two_part_mesh() -> PartMesh:
    box = trimesh.creation.box((1.6, 0.2, 1.2))
    box.apply_translation([0, 0.4, 0])
    leg = trimesh.creation.cylinder(0.1, 1.0, sections=16, segment=np.array([[0, -0.7, 0], [0, 0.3, 0]]))
    return PartMesh([Part("seat", "seat", box.vertices, box.faces, (220, 40, 40)),
                     Part("leg_0", "leg", leg.vertices, leg.faces, (40, 200, 40))])


def png(path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        return np.asarray(image)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """(job folder, OUTDIR, summary, {id: last manifest record}) of one run of `JOBS`."""
    folder = tmp_path_factory.mktemp("kinds")
    logo = np.full((60, 40, 3), 255, np.uint8)
    logo[10:45, 8:30] = (200, 30, 30)
    Image.fromarray(logo).save(folder / "logo.png")
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    mesh = two_part_mesh()
    mesh.export(folder / "chair.glb")
    mesh.export(folder / "chair.obj")
    (folder / "bad.glb").write_bytes(b"glTF garbage")
    (folder / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in JOBS))
    out = folder / "out"
    summary = run_jobs(folder / "jobs.jsonl", out, workers=1, max_retries=0)
    records = {record["id"]: record for record in read_manifest(summary.manifest)}
    return folder, out, summary, records


def test_the_batch_has_an_ok_or_error_record_per_job(batch):
    _, out, summary, records = batch
    assert (summary.total, summary.ok, summary.failed) == (len(JOBS), len(JOBS) - 2, 2)
    assert {job_id: r["status"] for job_id, r in records.items() if r["status"] != "ok"} == {
        "not-an-image": "error", "not-a-mesh": "error"}
    for record in records.values():
        assert all((out / name).is_file() for name in record["outputs"])


def test_generate_svg_writes_the_apis_icons_and_their_renders(batch):
    _, out, _, records = batch
    assert records["icons"]["outputs"] == [
        "icons-0.svg", "icons-0-32.png", "icons-0-48.png", "icons-1.svg", "icons-1-32.png", "icons-1-48.png"]
    torch.set_num_threads(1)  # as in the worker
    expected = gfx.svg.generate(PROMPT, n=2, seed=0)
    for i, result in enumerate(expected):
        svg = (out / f"icons-{i}.svg").read_text()
        assert svg == result.svg and parse_svg(svg).elements
        assert png(out / f"icons-{i}-48.png").shape[:2] == (48, 48)
        np.testing.assert_array_equal(png(out / f"icons-{i}-32.png")[..., :3], render_svg(svg, SIZE)[..., :3])


def test_vectorize_writes_the_svg_its_info_and_metrics(batch):
    folder, out, _, records = batch
    assert records["traced"]["outputs"] == ["traced.svg", "traced.json", "traced-32.png"]
    svg = (out / "traced.svg").read_text()
    report = json.loads((out / "traced.json").read_text())
    assert parse_svg(svg).elements and report["method"] == "vtracer" and report["colors"] == ["#c81e1e"]
    assert report["bytes"] == len(svg.encode()) and report["fallback"] is None and not report["empty"]
    target = load_image(folder / "logo.png")  # measured at the input's own size and aspect ratio
    rendered = render_svg(svg, target.shape[1::-1])
    assert report["mse"] == pytest.approx(mse(target, rendered)) and report["mse"] < 0.01
    assert report["ssim"] == pytest.approx(ssim(target, rendered)) and report["ssim"] > 0.9
    height, width = target.shape[:2]
    assert png(out / "traced-32.png").shape[:2] == (round(height * SIZE / max(height, width)),
                                                    round(width * SIZE / max(height, width)))

    neural = json.loads((out / "neural.json").read_text())
    assert records["neural"]["outputs"] == ["neural.svg", "neural.json"]
    assert neural["method"] == "neural+refine" and neural["fallback"] is None  # fallback off: the model's own
    assert parse_svg((out / "neural.svg").read_text()).elements


def test_render_mesh_writes_the_preview_or_one_png_per_view(batch, tmp_path):
    folder, out, _, records = batch
    assert records["sheet"]["outputs"] == ["sheet.png"]
    mesh = load_part_mesh(folder / "chair.glb")
    expected = png(preview(mesh, tmp_path / "preview.png", size=SIZE))  # what `gfx mesh render` writes
    np.testing.assert_array_equal(png(out / "sheet.png"), expected)
    assert expected.shape == (2 * (SIZE + 4) + 4, 2 * (SIZE + 4) + 4, 3)  # 2 x 2 views

    assert records["views"]["outputs"] == ["views-0.png", "views-1.png"]
    from_obj = load_part_mesh(folder / "chair.obj")
    assert from_obj.names == ["seat", "leg_0"]
    for k, view in enumerate([View(0, 0), View(90, 30)]):
        np.testing.assert_array_equal(png(out / f"views-{k}.png"), render(from_obj, view, SIZE))


def test_generate_mesh_writes_a_glb_with_one_node_per_part_and_a_preview(batch):
    _, out, _, records = batch
    assert records["chair"]["outputs"] == ["chair.glb", "chair.png"]
    torch.set_num_threads(1)
    expected = gfx.mesh.generate(MESH_PROMPT, seed=0)
    scene = trimesh.load(out / "chair.glb", force="scene")
    nodes = {node: scene.graph[node][1] for node in scene.graph.nodes_geometry}
    assert sorted(nodes) == sorted(expected.names) and all(node == geom for node, geom in nodes.items())
    assert {name: len(g.faces) for name, g in scene.geometry.items()} == {p.name: len(p.faces) for p in expected}
    assert png(out / "chair.png").shape == (2 * (SIZE + 4) + 4, 2 * (SIZE + 4) + 4, 3)


def test_bad_inputs_become_error_records_that_name_the_file(batch):
    _, _, _, records = batch
    assert records["not-an-image"]["error"] == (
        "ValueError: bad.png is not an image PIL can read (corrupt, or not an image file)")
    assert records["not-a-mesh"]["error"].startswith("MeshError: could not read bad.glb as GLB: ")
    assert records["not-an-image"]["outputs"] == records["not-a-mesh"]["outputs"] == []
