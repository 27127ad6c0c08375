"""The `gfx` command, run as a real subprocess (exit codes and stderr are part of its contract)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


def gfx(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gfx", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_version_and_help():
    result = gfx("--version")
    assert result.returncode == 0 and result.stdout.startswith("gfx ")
    for command in (["--help"], ["svg", "--help"], ["svg", "render", "--help"], ["svg", "tokenize", "--help"],
                    ["svg", "normalize", "--help"], ["data", "build-icons", "--help"]):
        assert gfx(*command).returncode == 0, command


def test_render_writes_png(tmp_path, filled_icon):
    src = tmp_path / "ring.svg"
    src.write_text(filled_icon)
    result = gfx("svg", "render", src, "-o", tmp_path / "ring.png", "--size", 48)
    assert result.returncode == 0, result.stderr
    image = np.asarray(Image.open(tmp_path / "ring.png"))
    assert image.shape[:2] == (48, 48)


def test_normalize_to_stdout(tmp_path, stroke_icon):
    src = tmp_path / "home.svg"
    src.write_text(stroke_icon)
    result = gfx("svg", "normalize", src)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<svg") and "<circle" not in result.stdout  # circles became paths
    assert 'viewBox="0 0 24 24"' in result.stdout


@pytest.mark.parametrize("scheme", ["path", "semantic"])
def test_tokenize_and_decode_round_trip(tmp_path, stroke_icon, scheme):
    from gfx.svg.core.metrics import compare

    src = tmp_path / "home.svg"
    src.write_text(stroke_icon)
    out = tmp_path / "decoded.svg"
    result = gfx("svg", "tokenize", src, "--scheme", scheme, "--decode", "-o", out)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) > 10
    assert compare(stroke_icon, out.read_text())["mse"] < 1e-3


@pytest.mark.parametrize(
    "args, message",
    [
        (["svg", "render", "missing.svg"], "does not exist"),
        (["svg", "tokenize", "bad.svg"], "error"),
        (["svg", "tokenize", "good.svg", "--decode"], "--decode needs -o"),
        (["train", "icon-clip", "--config", "missing.json"], "no such config file"),
        (["train", "no-such-recipe"], "icon-clip"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, filled_icon, args, message):
    (tmp_path / "bad.svg").write_bytes(b"\x00\x01 not svg at all")
    (tmp_path / "good.svg").write_text(filled_icon)
    result = gfx(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_mesh_generate_encode_decode_render(tmp_path):
    import trimesh

    glb = tmp_path / "chair.glb"
    result = gfx("mesh", "generate", "a chair with four legs", "--seed", "0", "-o", glb)
    assert result.returncode == 0, result.stderr
    assert str(glb) in result.stdout and "parts:" in result.stdout
    scene = trimesh.load(glb, force="scene")
    assert len(scene.geometry) >= 2 and all(len(g.faces) for g in scene.geometry.values())
    assert Image.open(glb.with_suffix(".png")).size[0] > 0

    codes, decoded = tmp_path / "codes.npz", tmp_path / "decoded.obj"
    assert gfx("mesh", "encode", glb, "-o", codes, "--candidates", "2").returncode == 0
    assert gfx("mesh", "decode", codes, "-o", decoded).returncode == 0
    assert len(trimesh.load(decoded, force="mesh").faces) > 0
    rendered = gfx("mesh", "render", decoded, "--size", "64")
    assert rendered.returncode == 0, rendered.stderr
    assert Image.open(rendered.stdout.strip()).size == (2 * 68 + 4, 2 * 68 + 4)  # 2 x 2 views of 64 px, 4 px gaps


def test_svg_vectorize_writes_a_valid_svg(tmp_path, filled_icon):
    from gfx.svg.core.metrics import is_valid_svg
    from gfx.svg.core.render import render_png

    png = tmp_path / "icon.png"
    png.write_bytes(render_png(filled_icon, 128))
    out = tmp_path / "icon.svg"
    result = gfx("svg", "vectorize", png, "-o", out, "--method", "vtracer")
    assert result.returncode == 0, result.stderr
    assert is_valid_svg(out.read_text())
    bad = gfx("svg", "vectorize", png, "-o", out, "--method", "magic")
    assert bad.returncode == 2 and "'magic' is not one of" in bad.stderr


@pytest.mark.parametrize(
    "command, option, listed, required",
    [
        (["svg", "vectorize"], "--method", "centerline+refine|centerline|neural+refine|neural|vtracer", ["-o", "o"]),
        (["svg", "tokenize"], "--scheme", "path|semantic", []),
        (["render"], "--executor", "local|ray", ["-o", "out"]),
        (["svg", "render"], "--background", "white|black|none|COLOUR", []),
    ],
)
def test_choices_are_listed_in_help_and_enforced(tmp_path, filled_icon, command, option, listed, required):
    wide = {**os.environ, "COLUMNS": "400"}  # rich wraps help into the terminal's width
    help_text = subprocess.run([sys.executable, "-m", "gfx", *command, "--help"], capture_output=True, text=True,
                               env=wide, timeout=120).stdout
    assert listed in help_text, help_text
    (tmp_path / "good.svg").write_text(filled_icon)
    bad = gfx(*command, "good.svg", *required, option, "magic", cwd=tmp_path)
    assert bad.returncode == 2 and "Invalid value for '" + option in bad.stderr and "magic" in bad.stderr


INTERNAL_ERROR = """
import sys
import gfx.svg.core.render as render
from gfx.cli import main

def broken(*args, **kwargs):
    raise RuntimeError("the renderer broke\\nsecond line")

render.render = broken
main(sys.argv[1:])
"""


@pytest.mark.parametrize("debug", [False, True])
def test_an_internal_error_exits_3_with_one_line_and_a_traceback_only_under_debug(tmp_path, filled_icon, debug):
    (tmp_path / "good.svg").write_text(filled_icon)
    args = [*(["--debug"] if debug else []), "svg", "render", "good.svg"]
    result = subprocess.run([sys.executable, "-c", INTERNAL_ERROR, *args], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("gfx: internal error: RuntimeError: the renderer broke")
    assert ("Traceback (most recent call last)" in result.stderr) == debug
    if not debug:
        assert result.stderr.strip() == last and last.endswith("(rerun with gfx --debug for the traceback)")


def test_svg_vectorize_keeps_a_wide_images_size_and_caps_the_trace(tmp_path):
    from gfx.svg.core.parse import parse_svg

    image = np.full((320, 512, 3), 255, np.uint8)
    image[60:260, 40:470] = (30, 90, 200)
    png, out = tmp_path / "wide.png", tmp_path / "wide.svg"
    Image.fromarray(image).save(png)
    result = gfx("svg", "vectorize", png, "-o", out, "--method", "vtracer", "--size", "128")
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert 'width="512" height="320"' in text and parse_svg(text).view_box == (0, 0, 512, 320)


def test_eval_refuses_a_set_the_task_does_not_have():
    result = gfx("eval", "iconshop", "--set", "colour", "--limit", "1")
    assert result.returncode == 2 and "evaluation 'iconshop' does not take --set" in result.stderr
    result = gfx("eval", "roundtrip", "--set", "colour", "--limit", "1")
    assert result.returncode == 2 and "unknown evaluation set 'colour'; valid: icons, artwork" in result.stderr


def test_eval_vectorize_protocol_options_are_checked():
    result = gfx("eval", "vectorize", "--source", "lucide", "--limit", "1")
    assert result.returncode == 2 and "add --protocol unseen-source" in result.stderr
    result = gfx("eval", "vectorize", "--protocol", "unseen-source", "--source", "feather", "--limit", "1")
    assert result.returncode == 2 and "unknown held-out icon source 'feather'; valid sources:" in result.stderr
    result = gfx("eval", "vectorize", "--protocol", "concept-disjoint", "--limit", "1")
    assert result.returncode == 2 and "unknown vectorize protocol 'concept-disjoint'" in result.stderr


def test_source_is_refused_where_no_protocol_holds_out_a_source():
    result = gfx("eval", "iconshop", "--source", "lucide", "--limit", "1")
    assert result.returncode == 2 and "evaluation 'iconshop' does not take --source" in result.stderr
    result = gfx("train", "iconshop", "--source", "lucide", "--steps", "1")
    assert result.returncode == 2 and "recipe 'iconshop' does not take --source" in result.stderr


def test_style_options_are_checked():
    result = gfx("eval", "iconshop", "--style", "bold", "--limit", "1")
    assert result.returncode == 2 and "style 'bold' is unknown" in result.stderr
    result = gfx("eval", "roundtrip", "--style", "any", "--limit", "1")
    assert result.returncode == 2 and "evaluation 'roundtrip' does not take --style" in result.stderr
    result = gfx("svg", "generate", "house", "--style", "bold")
    assert result.returncode == 2 and "'bold' is not one of" in result.stderr


def test_svg_scene_writes_a_grouped_svg_and_describe_reads_it_back(tmp_path, tiny_layout_dir):
    from gfx.svg.core.metrics import is_valid_svg

    out = tmp_path / "scene.svg"
    result = gfx("svg", "scene", "two trees left of a house", "-o", out, "--seed", 0, "--mode", "primitives",
                 "--layout-model", tiny_layout_dir)
    assert result.returncode == 0, result.stderr
    assert is_valid_svg(out.read_text()) and out.read_text().count("<g id=") == 3
    described = gfx("svg", "describe", out)
    assert described.returncode == 0 and described.stdout.startswith("A scene of 3 objects: ")
    assert "tree (" in described.stdout and "house (" in described.stdout
    bad = gfx("svg", "scene", "a purple dragon", "-o", out, "--layout-model", tiny_layout_dir)
    assert bad.returncode == 2 and "names no object the scene model knows" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_svg_generate_and_describe_with_a_local_causal_lm(tmp_path, filled_icon):
    """Any local transformers causal-LM directory is an LLM4SVG model: valid drawings, a text description."""
    from gfx.svg.core.metrics import is_valid_svg
    from tests.conftest import save_tiny_causal_lm

    save_tiny_causal_lm(tmp_path / "lm", ["Draw this description: a house\nSVG:", "Describe this SVG:\nAnswer:"])
    result = gfx("svg", "generate", "a house", "--seed", 0, "--model", tmp_path / "lm", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert is_valid_svg((tmp_path / "out" / "a-house-0.svg").read_text())
    src = tmp_path / "ring.svg"
    src.write_text(filled_icon)
    described = gfx("svg", "describe", src, "--model", tmp_path / "lm")
    assert described.returncode == 0, described.stderr
    named = gfx("svg", "generate", "a house", "--seed", 0, "--model", tmp_path / "lm", "-o", tmp_path / "home.svg")
    assert named.returncode == 0, named.stderr
    assert named.stdout.split() == [str(tmp_path / "home.svg"), str(tmp_path / "home.png")]
    bad = gfx("svg", "generate", "a house", "--guidance", 2, "--model", tmp_path / "lm")
    assert bad.returncode == 2 and "guidance applies to IconShop models" in bad.stderr
    bad = gfx("svg", "generate", "a house", "--candidates", 4, "--model", tmp_path / "lm")
    assert bad.returncode == 2 and "needs a pipeline with a reranker" in bad.stderr


def test_generated_files_go_to_a_folder_or_the_file_named(tmp_path):
    from gfx.cli.common import UsageError, numbered_outputs

    assert numbered_outputs(tmp_path / "out", "house", 2, ".svg") == [tmp_path / "out" / f"house-{i}.svg"
                                                                     for i in range(2)]
    assert (tmp_path / "out").is_dir()
    assert numbered_outputs(tmp_path / "new" / "home.svg", "house", 1, ".svg") == [tmp_path / "new" / "home.svg"]
    assert numbered_outputs(tmp_path / "home.svg", "house", 2, ".svg") == [tmp_path / f"home-{i}.svg" for i in range(2)]
    with pytest.raises(UsageError, match="writes .png files"):
        numbered_outputs(tmp_path / "cat.jpg", "cat", 1, ".png")
    assert not (tmp_path / "cat.jpg").exists()


def test_svg_edit_follows_an_instruction_with_a_local_causal_lm(tmp_path, stroke_icon):
    """`gfx svg edit IN.svg "INSTRUCTION"` is LLM4SVG's edit: a valid SVG written atomically, or one line on bad input
    with the output left as it was."""
    from gfx.files import TEMP_PREFIX
    from gfx.svg.core.metrics import is_valid_svg
    from tests.conftest import save_tiny_causal_lm

    save_tiny_causal_lm(tmp_path / "lm", ["Edit this SVG: make it red\nSVG:"])
    (tmp_path / "in.svg").write_text(stroke_icon)
    (tmp_path / "bad.svg").write_text("<svg><path d=")
    out = tmp_path / "out.svg"
    result = gfx("svg", "edit", "in.svg", "make it red", "-o", out, "--seed", 0, "--model", "lm", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out) and is_valid_svg(out.read_text())
    written = out.read_text()
    for args, message in [
        (["missing.svg", "make it red"], "missing.svg does not exist"),
        (["bad.svg", "make it red"], "bad.svg is not well-formed XML"),
        (["in.svg", " "], 'the edit instruction is empty; say what to change, e.g. "make it red"'),
        (["in.svg"], 'say what to change (gfx svg edit IN.svg "make it red" -o OUT.svg)'),
        (["in.svg", "make it red", "--keep", "0"], "give an INSTRUCTION or --keep, not both"),
        (["in.svg", "make it red", "--prompt", "house"], "--prompt and --style go with --keep"),
    ]:
        bad = gfx("svg", "edit", *args, "-o", out, "--model", "lm", cwd=tmp_path)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and message in lines[0], (args, bad.stderr)
    assert out.read_text() == written and not list(tmp_path.glob(TEMP_PREFIX + "*"))
