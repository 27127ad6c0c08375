"""The studio's handlers without a browser: input checks, generated files, edits, image -> SVG, meshes,
batch runs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gfx.apps import studio_handlers as h
from gfx.svg.core.document import SVGError
from gfx.svg.core.metrics import mse, ssim
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render
from gfx.svg.vectorization.vectorizer import METHODS, load_image, working_image

STROKE_ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="black"
 stroke-width="2"><path d="M5 12v7a2 2 0 0 0 2 2h10a2 2 0 0 0 2 -2v-7"/><path d="M5 12l-2 0l9 -9l9 9l-2 0"/>
 <circle cx="12" cy="14" r="2"/></svg>"""


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (h.check_prompt, "x" * 201, "the prompt has 201 characters; the limit is 200"),
        (h.check_prompt, 3, "the prompt must be text, not int"),
        (h.check_count, 0, "the number of icons must be 1..16, not 0"),
        (h.check_count, 17, "the number of icons must be 1..16, not 17"),
        (h.check_count, 2.5, "the number of icons must be a whole number, not 2.5"),
        (h.check_count, None, "the number of icons must be 1..16, not None"),
        (h.check_seed, -1, "the seed must be 0..2147483647, not -1"),
        (h.check_seed, "abc", "the seed must be a whole number, not 'abc'"),
        (h.check_guidance, 0.5, "guidance must be 1..10 (1 = off), not 0.5"),
        (h.check_guidance, "abc", "guidance must be a number, not 'abc'"),
        (h.check_guidance, float("nan"), "guidance must be 1..10 (1 = off), not nan"),
    ],
)
def test_bad_inputs_are_refused_with_a_message(check, value, message):
    with pytest.raises(h.StudioInputError) as info:
        check(value)
    assert str(info.value) == message


def test_good_inputs_pass_through():
    assert h.check_prompt("  house  ") == "house"
    assert h.check_prompt(None) == ""
    assert h.check_count(4.0) == 4 and h.check_count("16") == 16
    assert h.check_seed(7) == 7 and h.check_seed(7.0) == 7
    drawn = {h.check_seed(None) for _ in range(5)} | {h.check_seed("")}
    assert all(0 <= s <= h.MAX_SEED for s in drawn) and len(drawn) > 1
    assert h.check_guidance(None) is None and h.check_guidance("") is None and h.check_guidance(2) == 2.0
    with pytest.raises(h.StudioInputError, match="type a prompt first"):
        h.check_prompt("   ", required=True)


def test_generate_icons_writes_pngs_and_svgs_and_repeats_with_a_seed(tiny_iconshop, tmp_path):
    out = h.generate_icons(" house ", 3, 5, None, model_dir=tiny_iconshop, work_dir=tmp_path)
    assert len(out.images) == len(out.svg_files) == len(out.svgs) == 3
    assert out.status.startswith("3 icon(s) in ") and out.status.endswith("(seed 5)")
    for (png, caption), svg_file, svg in zip(out.images, out.svg_files, out.svgs, strict=True):
        assert Path(png).parent == Path(svg_file).parent and Path(png).parent.parent == tmp_path
        assert Path(svg_file).name.startswith("house-") and Path(svg_file).read_text() == svg
        assert Image.open(png).size == (h.PREVIEW_SIZE, h.PREVIEW_SIZE)
        assert caption.endswith(f" · {len(parse_svg(svg).elements)} paths")
    again = h.generate_icons("house", 3, 5, None, model_dir=tiny_iconshop, work_dir=tmp_path)
    assert again.svgs == out.svgs and again.svg_files != out.svg_files  # same icons, a fresh folder


def test_generate_icons_checks_inputs_before_loading_the_model(tmp_path):
    with pytest.raises(h.StudioInputError, match="number of icons must be 1..16"):
        h.generate_icons("house", 99, 0, None, model_dir=str(tmp_path / "no-model"), work_dir=tmp_path)
    with pytest.raises(h.StudioInputError, match="style 'bold' is unknown"):
        h.generate_icons("house", 1, 0, None, "bold", model_dir=str(tmp_path / "no-model"), work_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no IconShop pipeline"):
        h.generate_icons("house", 1, 0, None, model_dir=str(tmp_path), work_dir=tmp_path)


def test_describe_paths_numbers_paths_in_the_editors_order():
    labels = h.describe_paths(STROKE_ICON)
    normalized = normalize(parse_svg(STROKE_ICON))
    assert len(labels) == len(normalized.elements) == 3
    assert [label.split(" · ")[0] for label in labels] == ["#0", "#1", "#2"]
    assert labels[0] == f"#0 · {len(normalized.elements[0].commands)} commands · stroke"


@pytest.mark.parametrize(
    ("svg", "error", "message"),
    [
        ("", h.StudioInputError, "there is no SVG to edit"),
        ("<svg", SVGError, "the SVG"),
        ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"/>', h.StudioInputError, "draws nothing"),
        ("<svg>" + " " * h.MAX_SVG_BYTES + "</svg>", h.StudioInputError, "the limit is 524288"),
    ],
)
def test_describe_paths_refuses_bad_svg(svg, error, message):
    with pytest.raises(error, match=message):
        h.describe_paths(svg)


@pytest.mark.parametrize("keep", [[0], [0, 2]])
def test_edit_keeps_the_ticked_paths(tiny_iconshop, tmp_path, keep):
    original = normalize(parse_svg(STROKE_ICON)).elements
    out = h.edit_icon(STROKE_ICON, keep, "house", 2, 0, None, model_dir=tiny_iconshop, work_dir=tmp_path)
    assert len(out.svgs) == 2 and "keeping paths " + ", ".join(map(str, keep)) in out.status
    for svg in out.svgs:
        elements = parse_svg(svg).elements
        kept = [elements[0], elements[-1]] if keep == [0, 2] else [elements[0]]  # infill keeps both ends
        for k, element in zip(keep, kept, strict=True):
            assert element.commands == original[k].commands
            np.testing.assert_allclose(element.coords, original[k].coords, atol=0.5)  # tiny grid: 1 unit


def test_edit_refuses_nothing_kept_and_missing_paths(tiny_iconshop, tmp_path):
    with pytest.raises(h.StudioInputError, match="tick at least one path to keep"):
        h.edit_icon(STROKE_ICON, [], "", 1, 0, None, model_dir=tiny_iconshop, work_dir=tmp_path)
    with pytest.raises(h.StudioInputError, match="path #5 does not exist; the SVG has 3 paths"):
        h.edit_icon(STROKE_ICON, [0, 5], "", 1, 0, None, model_dir=tiny_iconshop, work_dir=tmp_path)


def _logo(path: Path, size=(60, 40)) -> Path:
    """A red rectangle on white, `size` = (height, width)."""
    image = np.full((*size, 3), 255, np.uint8)
    image[10:45, 8:30] = (200, 30, 30)
    Image.fromarray(image).save(path)
    return path


def test_vectorize_shows_input_and_svg_side_by_side_with_metrics(tmp_path):
    logo = _logo(tmp_path / "My Logo.png")
    out = h.vectorize_image(str(logo), "vtracer", model_dir=None, work_dir=tmp_path / "work")
    assert Path(out.svg_file).name == "my-logo.svg" and Path(out.svg_file).parent.parent == tmp_path / "work"
    svg = Path(out.svg_file).read_text()
    assert parse_svg(svg).elements
    input_png, svg_png = np.asarray(Image.open(out.input_png)), np.asarray(Image.open(out.svg_png))
    preview = working_image(load_image(logo), h.PREVIEW_SIZE, h.PREVIEW_SIZE)  # the input's 60x40 aspect ratio
    np.testing.assert_array_equal(input_png, preview)
    np.testing.assert_array_equal(svg_png[..., :3], render(svg, preview.shape[1::-1])[..., :3])
    metrics = dict(out.metrics)
    assert list(metrics) == ["MSE", "SSIM", "bytes", "paths", "colours", "seconds", "fell back to"]
    target, rendered = load_image(logo), render(svg, (40, 60))  # measured at the input's own size
    assert metrics["MSE"] == f"{mse(target, rendered):.5f}" and metrics["SSIM"] == f"{ssim(target, rendered):.4f}"
    assert metrics["bytes"] == len(svg.encode()) and metrics["paths"] == len(parse_svg(svg).elements)
    assert metrics["colours"] == "#c81e1e" and metrics["fell back to"] == "no"
    assert re.fullmatch(r"vtracer: 1 paths, \d+ bytes in \d+\.\d s", out.status), out.status


def test_vectorize_with_the_model_says_whether_it_fell_back(tmp_path):
    out = h.vectorize_image(str(_logo(tmp_path / "a.png")), "neural", model_dir=None, work_dir=tmp_path)
    fallback = dict(out.metrics)["fell back to"]
    assert fallback in ("no", "vtracer")
    assert out.status.startswith("neural: ") and out.status.endswith(
        "(the model's result was far off, so this is vtracer's)" if fallback == "vtracer" else " s")


def test_vectorize_of_a_blank_image_is_an_empty_svg(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (32, 32), "white").save(blank)
    out = h.vectorize_image(str(blank), "vtracer", model_dir=None, work_dir=tmp_path)
    assert out.status.startswith("vtracer: the image has no ink to trace; the SVG is empty")
    assert parse_svg(Path(out.svg_file).read_text()).elements == []


def test_vectorize_refuses_bad_uploads_with_a_message(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with open(tmp_path / "huge.png", "wb") as f:
        f.truncate(h.MAX_IMAGE_BYTES + 1)
    logo = str(_logo(tmp_path / "a.png"))
    cases = [
        ((None, "vtracer"), h.StudioInputError, "upload an image first (PNG, JPEG, WebP, BMP, GIF or TIFF)"),
        ((str(tmp_path / "notes.txt"), "vtracer"), h.StudioInputError,
         "notes.txt: expected a .png, .jpg, .jpeg, .webp, .bmp, .gif, .tif, .tiff file"),
        ((str(tmp_path / "huge.png"), "vtracer"), h.StudioInputError,
         f"huge.png is {h.MAX_IMAGE_BYTES + 1} bytes; the limit is {h.MAX_IMAGE_BYTES}"),
        ((logo, "magic"), h.StudioInputError, f"choose a method: {', '.join(h.vectorize_methods())} (not 'magic')"),
        ((str(tmp_path / "broken.png"), "vtracer"), ValueError,
         "broken.png is not an image PIL can read (corrupt, or not an image file)"),
    ]
    for args, error, message in cases:
        with pytest.raises(error) as info:
            h.vectorize_image(*args, model_dir=None, work_dir=tmp_path / "work")
        assert str(info.value) == message
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())  # nothing written


def test_vectorize_methods_are_the_apis_minus_a_missing_potrace(monkeypatch):
    monkeypatch.setattr(h.shutil, "which", lambda name: None)
    assert h.vectorize_methods() == [m for m in METHODS if m != "potrace"]
    monkeypatch.setattr(h.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert h.vectorize_methods() == list(METHODS)


def test_generate_mesh_exports_a_glb_with_one_node_per_part(tmp_path):
    import trimesh

    out = h.generate_mesh("a wooden chair with four legs", 0, model_dir=None, work_dir=tmp_path)
    scene = trimesh.load(out.glb, force="scene")
    assert sorted(scene.geometry) == sorted(row[0] for row in out.parts)
    for name, label, vertices, faces in out.parts:
        assert name.startswith(label) and len(scene.geometry[name].faces) == faces and vertices > 0
    assert out.status.endswith("(seed 0)")
    with pytest.raises(h.StudioInputError, match="type a prompt first"):
        h.generate_mesh("", 0, model_dir=None, work_dir=tmp_path)


def _job_file(path: Path, jobs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def test_batch_runs_uploads_and_reports_every_job(tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "good.svg").write_text(STROKE_ICON)
    (uploads / "corrupt.svg").write_text("<svg><path d='M0 0 L")
    jobs = _job_file(uploads / "any-name.jsonl", [
        {"kind": "render-svg", "id": "good", "input": "good.svg", "sizes": [32, 64]},
        {"kind": "render-svg", "id": "corrupt", "input": "corrupt.svg"},
        {"kind": "render-svg", "id": "missing", "input": "missing.svg"},
    ])
    out = h.run_batch(str(jobs), [str(uploads / "good.svg"), str(uploads / "corrupt.svg")], "", 1,
                      work_dir=tmp_path / "work")
    rows = {row[0]: dict(zip(h.MANIFEST_COLUMNS, row, strict=True)) for row in out.rows}
    assert {k: r["status"] for k, r in rows.items()} == {"good": "ok", "corrupt": "error", "missing": "error"}
    assert rows["good"]["outputs"] == "good-32.png, good-64.png" and rows["good"]["error"] == ""
    assert rows["missing"]["error"] == "FileNotFoundError: input missing.svg does not exist"
    assert rows["corrupt"]["error"].startswith("SVGError: ")
    assert [Image.open(p).size for p, _ in out.images] == [(32, 32), (64, 64)]
    assert out.status.startswith("1 ok, 2 failed of 3 jobs")
    assert out.notes == ["2 job(s) failed: corrupt, missing; see the error column"]
    assert [r["id"] for r in map(json.loads, Path(out.manifest).read_text().splitlines())] == list(rows)


def test_batch_runs_image_and_mesh_uploads(tmp_path):
    import trimesh

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    _logo(uploads / "logo.png")
    box = trimesh.creation.box((1.0, 0.5, 0.8))
    box.export(uploads / "box.glb")
    jobs = _job_file(uploads / "jobs.jsonl", [
        {"kind": "vectorize", "id": "logo", "input": "logo.png", "method": "vtracer"},
        {"kind": "render-mesh", "id": "box", "input": "box.glb", "size": 32},
    ])
    out = h.run_batch(str(jobs), [str(uploads / "logo.png"), str(uploads / "box.glb")], "", 1,
                      work_dir=tmp_path / "work", allow_server_paths=False)
    rows = {row[0]: dict(zip(h.MANIFEST_COLUMNS, row, strict=True)) for row in out.rows}
    assert rows["logo"]["outputs"] == "logo.svg, logo.json" and rows["box"]["outputs"] == "box.png"
    assert [caption for _, caption in out.images] == ["box.png"] and out.notes == []
    with pytest.raises(h.StudioInputError, match=r"box.stl: expected a .svg, .png, .*, .ply file"):
        h.run_batch(str(jobs), [str(uploads / "box.stl")], "", 1, work_dir=tmp_path / "work")


def test_a_shared_studio_runs_only_the_shipped_models(tmp_path):
    from gfx.models import model_path

    jobs = _job_file(tmp_path / "jobs.jsonl", [
        {"kind": "generate-svg", "id": "a", "prompt": "house"},
        {"kind": "generate-svg", "id": "b", "prompt": "house", "model": str(model_path("iconshop"))},
    ])
    with pytest.raises(h.StudioInputError) as info:
        h.run_batch(str(jobs), None, "", 1, work_dir=tmp_path / "work", allow_server_paths=False)
    assert str(info.value) == "jobs.jsonl: line 2: a shared studio runs only the shipped models; remove the model field"


def test_batch_reads_a_server_folder_unless_shared(tmp_path):
    (tmp_path / "a.svg").write_text(STROKE_ICON)
    _job_file(tmp_path / "jobs.jsonl", [{"kind": "render-svg", "id": "a", "input": "a.svg"}])
    out = h.run_batch(None, None, str(tmp_path), 1, work_dir=tmp_path / "work")
    assert [row[2] for row in out.rows] == ["ok"] and out.notes == []
    with pytest.raises(h.StudioInputError, match="server folders are disabled in a shared studio"):
        h.run_batch(None, None, str(tmp_path), 1, work_dir=tmp_path / "work", allow_server_paths=False)


@pytest.mark.parametrize("outside", ["../a.svg", "{tmp}/a.svg"])
def test_a_shared_studio_runs_only_uploaded_inputs(tmp_path, outside):
    (tmp_path / "a.svg").write_text(STROKE_ICON)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "b.svg").write_text(STROKE_ICON)
    jobs = _job_file(tmp_path / "up" / "jobs.jsonl", [{"kind": "render-svg", "id": "b", "input": "b.svg"},
                                                      {"kind": "render-svg", "input": outside.format(tmp=tmp_path)}])
    with pytest.raises(h.StudioInputError, match=r"^jobs.jsonl: line 2: input .*a.svg is not an uploaded file"):
        h.run_batch(str(jobs), [str(tmp_path / "up" / "b.svg")], "", 1, work_dir=tmp_path / "work",
                    allow_server_paths=False)
    _job_file(jobs, [{"kind": "render-svg", "id": "b", "input": "b.svg"}])
    out = h.run_batch(str(jobs), [str(tmp_path / "up" / "b.svg")], "", 1, work_dir=tmp_path / "work",
                      allow_server_paths=False)
    assert [row[2] for row in out.rows] == ["ok"]


def test_batch_refuses_bad_uploads_before_running(tmp_path):
    work = tmp_path / "work"
    big = _job_file(tmp_path / "big.jsonl", [{"kind": "render-svg", "input": f"{i}.svg"}
                                             for i in range(h.MAX_BATCH_JOBS + 1)])
    cases = [
        ((None, None, "", 1), "upload a job file (.jsonl) or enter a server folder"),
        ((str(big), None, "", 0), "workers must be 1.."),
        ((str(big), None, "", 1), f"big.jsonl has {h.MAX_BATCH_JOBS + 1} jobs; the studio runs at most"),
        ((str(tmp_path / "x.svg"), None, "", 1), "x.svg: expected a .jsonl file"),
        ((None, None, str(tmp_path / "nowhere"), 1), "nowhere does not exist; give a folder with a jobs.jsonl or a .jsonl file"),
    ]
    for args, message in cases:
        with pytest.raises(h.StudioInputError, match=re.escape(message)):
            h.run_batch(*args, work_dir=work)
    huge = tmp_path / "huge.svg"
    huge.write_text("<svg>" + " " * h.MAX_SVG_BYTES + "</svg>")
    with pytest.raises(h.StudioInputError, match="huge.svg is 524299 bytes; the limit is 524288"):
        h.run_batch(str(big), [str(huge)], "", 1, work_dir=work)
    typos = _job_file(tmp_path / "typo.jsonl", [{"kind": "rendr-svg", "input": "a.svg"}] * 5)
    with pytest.raises(h.StudioInputError) as info:
        h.run_batch(str(typos), None, "", 1, work_dir=work)
    assert str(info.value).startswith("typo.jsonl: line 1: unknown kind 'rendr-svg'; valid kinds: render-svg, "
                                      "render-mesh, generate-svg, generate-scene, vectorize, generate-mesh, generate-image; line 2: ")
    assert str(info.value).count("line ") == 3 and str(info.value).endswith(" ...")
