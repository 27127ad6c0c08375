"""The studio's gradio layer without a browser: which tabs exist, and how handler errors reach the page."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

from gfx.apps import studio  # noqa: E402
from gfx.apps.studio_handlers import StudioInputError  # noqa: E402


def _components(blocks, kind):
    return [block for block in blocks.blocks.values() if isinstance(block, kind)]


def test_tabs_are_the_capabilities_gfx_has(tmp_path):
    ui = studio.build_studio(str(tmp_path), work_dir=str(tmp_path))
    from gfx.apps.image_handlers import image_model_available

    expected = ["Text -> icon", *(["Text -> scene"] if studio.scene_available() else []), "Image -> SVG",
                *(["Mesh"] if studio.mesh_available() else []),
                *(["Text -> image"] if image_model_available(None) else []), "Batch"]
    assert [tab.label for tab in _components(ui, gr.Tab)] == expected


def test_the_image_tab_offers_the_methods_and_file_types_the_handler_accepts(tmp_path):
    from gfx.apps import studio_handlers

    ui = studio.build_studio(work_dir=str(tmp_path))
    by_id = {block.elem_id: block for block in ui.blocks.values() if getattr(block, "elem_id", None)}
    methods = studio_handlers.vectorize_methods()
    assert [value for _, value in by_id["vec-method"].choices] == methods and by_id["vec-method"].value == methods[0]
    assert by_id["vec-image"].file_types == list(studio_handlers.IMAGE_SUFFIXES)
    assert by_id["batch-inputs"].file_types == list(studio_handlers.UPLOAD_LIMITS)
    for output in ("vec-input", "vec-output", "vec-svg", "vec-metrics"):
        assert by_id[output].interactive is False


def test_every_tab_has_examples_and_the_batch_run_reports_progress(tmp_path):
    import inspect

    ui = studio.build_studio(work_dir=str(tmp_path))
    examples = _components(ui, gr.Dataset)  # each gr.Examples shows as a Dataset of its rows
    assert len(examples) == len(_components(ui, gr.Tab))
    by_id = {block.elem_id: block for block in ui.blocks.values() if getattr(block, "elem_id", None)}
    images = [row[0] for row in next(d for d in examples if by_id["vec-image"] in d._components).samples]
    assert len(images) == 3 and all(Path(str(getattr(p, "path", p))).suffix == ".png" for p in images)
    [batch] = [f for f in ui.fns.values() if f.name == "run_batch"]
    assert isinstance(inspect.signature(batch.fn).parameters["progress"].default, gr.Progress)


def test_a_shared_studio_hides_server_folders(tmp_path):
    def folder_box(ui):
        [box] = [b for b in _components(ui, gr.Textbox) if b.elem_id == "batch-folder"]
        return box

    assert folder_box(studio.build_studio(work_dir=str(tmp_path))).visible is True
    assert folder_box(studio.build_studio(work_dir=str(tmp_path), allow_server_paths=False)).visible is False


def test_input_errors_become_messages_and_bugs_a_short_notice(caplog):
    @studio._shown
    def refuses(value):
        raise StudioInputError(f"the seed must be 0..9, not {value}")

    @studio._shown
    def crashes():
        raise ZeroDivisionError("division by zero")

    with pytest.raises(gr.Error) as info:
        refuses(-1)
    assert info.value.message == "the seed must be 0..9, not -1" and info.value.print_exception is False
    with caplog.at_level(logging.ERROR, logger="gfx.apps.studio"), pytest.raises(gr.Error) as info:
        crashes()
    assert info.value.message == "crashes failed (ZeroDivisionError); the server log has details"
    assert "ZeroDivisionError: division by zero" in caplog.text  # the traceback goes to the log only


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "0"], "gfx: error: --port must be 1..65535, not 0"),
        (["--model", "no/such/dir"], "gfx: error: --model no/such/dir is not a directory"),
    ],
)
def test_gfx_demo_refuses_bad_options(options, message):
    result = subprocess.run([sys.executable, "-m", "gfx", "demo", "--no-browser", *options], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.strip() == message
