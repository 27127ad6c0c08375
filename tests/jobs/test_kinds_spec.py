"""The model and mesh job kinds at spec time: defaults, per-line errors, model directories checked early."""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from gfx.jobs import JOB_KINDS, JobSpecError, validate_jobs
from gfx.jobs.fields import MAX_SEED
from gfx.jobs.spec import parse_job
from gfx.models import MODELS_DIR

BASE = Path("/data/batch")
NEW_KINDS = ("render-mesh", "generate-svg", "generate-scene", "vectorize", "generate-mesh", "generate-image")


def parse(fields: dict):
    return parse_job(json.dumps(fields), 7, BASE)


def test_every_issue_kind_is_registered():
    assert list(JOB_KINDS) == ["render-svg", *NEW_KINDS]
    for kind in JOB_KINDS.values():
        assert kind.summary and all(importlib.util.find_spec(module) for module in kind.modules)


def test_defaults():
    assert parse({"kind": "generate-svg"}).params == {
        "prompt": "", "n": 1, "seed": 0, "guidance": None, "style": "outline", "model": None, "sizes": []}
    job = parse({"kind": "vectorize", "input": "scans/a.png"})
    assert job.params == {"input": "scans/a.png", "method": "centerline+refine", "size": None, "max_colors": None,
                          "refine_steps": None, "fallback": None, "seed": None, "model": None, "sizes": []}
    assert job.inputs == {"input": "/data/batch/scans/a.png"}
    job = parse({"kind": "render-mesh", "input": "chair.GLB"})
    assert job.params == {"input": "chair.GLB", "size": None, "views": None, "separate": False}
    assert job.inputs == {"input": "/data/batch/chair.GLB"}
    assert parse({"kind": "generate-scene", "prompt": "two trees"}).params == {
        "prompt": "two trees", "seed": 0, "mode": "icons", "layout_model": None, "model": None, "sizes": []}
    assert parse({"kind": "generate-mesh", "prompt": "a chair"}).params == {
        "prompt": "a chair", "seed": 0, "model": None, "format": "glb", "size": None}
    assert parse({"kind": "generate-image", "prompt": "a red circle"}).params == {
        "prompt": "a red circle", "n": 1, "seed": 0, "tome": False, "set": [], "steps": 25, "guidance": None,
        "model": None, "negative_concept": None, "concept": None, "style": None, "style_model": None}


def test_given_values_are_kept_or_normalized():
    job = parse({"kind": "generate-svg", "prompt": "house", "n": 16, "seed": MAX_SEED, "guidance": 2,
                 "sizes": [32, 64]})
    assert job.params["n"] == 16 and job.params["seed"] == MAX_SEED and job.params["sizes"] == [32, 64]
    assert job.params["guidance"] == 2.0 and isinstance(job.params["guidance"], float)
    assert parse({"kind": "generate-svg", "seed": None}).params["seed"] is None  # random
    assert parse({"kind": "generate-svg", "style": None}).params["style"] is None  # any style
    views = parse({"kind": "render-mesh", "input": "a.ply", "views": [[0, 0], [-90, 45.5]]}).params["views"]
    assert views == [[0.0, 0.0], [-90.0, 45.5]]


def test_model_directories_are_checked_and_made_absolute(tmp_path, monkeypatch):
    for class_name, kind in (("IconShop", "generate-svg"), ("FullPart", "generate-mesh")):
        model = tmp_path / kind
        model.mkdir()
        (model / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
        fields = {"kind": kind, "prompt": "a chair", "model": str(model)}
        assert parse(fields).params["model"] == str(model)
    monkeypatch.chdir(tmp_path)  # relative model paths resolve against the current directory
    assert parse({"kind": "generate-svg", "model": "generate-svg"}).params["model"] == str(tmp_path / "generate-svg")
    shipped = os.path.relpath(MODELS_DIR / "starvector-mini")
    job = parse({"kind": "vectorize", "input": "a.png", "model": shipped})
    assert job.params["model"] == str(MODELS_DIR / "starvector-mini")


def _message(fields: dict) -> str:
    with pytest.raises(ValueError) as info:
        parse(fields)
    return str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "generate-svg", "n": 0}, "field 'n' must be an integer in 1..16, got 0"),
        ({"kind": "generate-svg", "n": True}, "field 'n' must be an integer in 1..16, got true"),
        ({"kind": "generate-svg", "n": 2.0}, "field 'n' must be an integer in 1..16, got 2.0"),
        ({"kind": "generate-svg", "seed": -1},
         f"field 'seed' must be an integer in 0..{MAX_SEED}, or null for a random seed, got -1"),
        ({"kind": "generate-svg", "guidance": 0.5},
         "field 'guidance' must be a number in 1..100 (1 = off), or null for the model's default, got 0.5"),
        ({"kind": "generate-svg", "prompt": 3}, "field 'prompt' must be a string of at most 1000 characters, got 3"),
        ({"kind": "generate-svg", "sizes": [0]},
         "field 'sizes' must be a list of up to 16 distinct integers in 1..8192, got [0]"),
        ({"kind": "generate-svg", "temperature": 1},
         "unknown field 'temperature' for kind 'generate-svg'; valid fields: id, kind, output, prompt, n, seed, "
         "guidance, style, model, sizes"),
        ({"kind": "generate-svg", "style": "bold"},
         "field 'style' must be one of outline, filled, or null for any style, got \"bold\""),
        ({"kind": "vectorize"}, "kind 'vectorize' needs field 'input'"),
        ({"kind": "vectorize", "input": "a.png", "method": "magic"},
         "field 'method' must be one of centerline+refine, centerline, neural+refine, neural, vtracer, vtracer-spline, vtracer-color, "
         "vtracer-color-spline, potrace, got \"magic\""),
        ({"kind": "vectorize", "input": "a.png", "size": 8}, "field 'size' must be an integer in 16..4096, or null, got 8"),
        ({"kind": "vectorize", "input": "a.png", "fallback": "yes"},
         "field 'fallback' must be true, false or null, got \"yes\""),
        ({"kind": "render-mesh", "input": "a.gltf"}, "field 'input' must be the path of a .glb, .obj, .ply file, got \"a.gltf\""),
        ({"kind": "render-mesh", "input": "a.glb", "views": [[0, 100]]},
         "field 'views' must be a list of 1 to 16 [azimuth, elevation] pairs in degrees (|azimuth| <= 360, "
         "|elevation| <= 90), or null, got [[0, 100]]"),
        ({"kind": "render-mesh", "input": "a.glb", "views": []}, "field 'views' must be a list of 1 to 16"),
        ({"kind": "render-mesh", "input": "a.glb", "views": [[0]]}, "field 'views' must be a list of 1 to 16"),
        ({"kind": "render-mesh", "input": "a.glb", "separate": None}, "field 'separate' must be true or false, got null"),
        ({"kind": "render-mesh", "input": "a.glb", "size": 4096},
         "field 'size' must be an integer in 16..2048, or null, got 4096"),
        ({"kind": "generate-mesh"}, "kind 'generate-mesh' needs field 'prompt'"),
        ({"kind": "generate-scene", "prompt": "a cat", "mode": "ink"},
         "field 'mode' must be one of icons, primitives, got \"ink\""),
        ({"kind": "generate-scene", "prompt": "a cat", "layout_model": "/nowhere"},
         "field 'layout_model' must be an SVGCraft layout checkpoint directory"),
        ({"kind": "generate-mesh", "prompt": "  "},
         "field 'prompt' must be a non-empty string of at most 1000 characters, e.g. \"a chair\", got \"  \""),
        ({"kind": "generate-mesh", "prompt": "a chair", "format": "stl"},
         "field 'format' must be one of glb, obj, ply, got \"stl\""),
        ({"kind": "generate-image", "prompt": "a heart", "set": "red, blue"},
         "field 'set' must be a list of at most 8 strings (one per image of the set)"),
        ({"kind": "generate-image", "prompt": "a heart", "negative_concept": "/nowhere"},
         "field 'negative_concept' must be a learned-concept directory (e.g. models/geom-erasing); /nowhere has no "
         "geom_erasing.json"),
    ],
)
def test_bad_fields_give_a_line_and_a_reason(fields, message):
    assert _message(fields).startswith(f"line 7: {message}")


def test_wrong_or_missing_model_directories_are_refused_at_spec_time(tmp_path):
    iconshop = str(MODELS_DIR / "iconshop-mini")  # the message ends with ", got <the value, maybe shortened>"
    assert _message({"kind": "generate-mesh", "prompt": "a chair", "model": iconshop}).startswith(
        "line 7: field 'model' must be a FullPart checkpoint directory (e.g. models/fullpart-mini); "
        f"{iconshop} holds a IconShop, got ")
    nowhere = str(tmp_path / "nowhere")
    assert _message({"kind": "generate-svg", "model": nowhere}).startswith(
        "line 7: field 'model' must be an IconShop checkpoint directory (e.g. "
        f"models/iconshop-mini); {nowhere} holds no checkpoint gfx knows, got ")
    assert _message({"kind": "vectorize", "input": "a.png", "model": ""}).startswith(
        "line 7: field 'model' must be a StarVector checkpoint directory path, or null for the shipped model")


def test_potrace_is_refused_at_spec_time_without_its_binary(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert _message({"kind": "vectorize", "input": "a.png", "method": "potrace"}) == (
        "line 7: field 'method' needs the potrace binary on PATH (apt install potrace); use \"vtracer\" instead, "
        "got \"potrace\"")
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert parse({"kind": "vectorize", "input": "a.png", "method": "potrace"}).params["method"] == "potrace"


def test_a_job_file_reports_every_bad_line(tmp_path):
    lines = [
        {"kind": "generate-svg", "prompt": "house"},
        {"kind": "generate-svg", "n": 99},
        {"kind": "vectorize", "input": "a.png", "method": "vtracer"},
        {"kind": "render-mesh", "input": "a.stl"},
        {"kind": "generate-mesh", "prompt": ""},
        {"kind": "generate-mesh", "prompt": "a chair", "seed": 1},
    ]
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(JobSpecError) as info:
        validate_jobs(path)
    assert [error.split(" must ")[0] for error in info.value.errors] == [
        "line 2: field 'n'", "line 4: field 'input'", "line 5: field 'prompt'"]
    del lines[4], lines[3], lines[1]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert validate_jobs(path) == {"generate-svg": 1, "vectorize": 1, "generate-mesh": 1}
