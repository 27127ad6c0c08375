"""The studio's "Text -> scene" handler: writes the scene's SVG and preview, lists its objects, refuses bad input
with a message."""

import pytest
import torch

from gfx.apps import scene_handlers
from gfx.apps.studio_handlers import StudioInputError
from gfx.svg.core.metrics import is_valid_svg


def test_generate_scene_writes_svg_preview_and_object_rows(tiny_layout_dir, tmp_path):
    torch.set_num_threads(1)
    out = scene_handlers.generate_scene("a cat next to a dog", "4", "primitives", layout_model=str(tiny_layout_dir),
                                        icon_model=None, work_dir=tmp_path)
    assert is_valid_svg(open(out.svg_file).read()) and out.png.endswith(".png")
    assert sorted(row[0] for row in out.objects) == ["cat", "dog"] and all(len(row) == 5 for row in out.objects)
    assert out.status.startswith("2 objects in ") and "seed 4" in out.status
    with pytest.raises(StudioInputError, match="mode must be one of icons, primitives"):
        scene_handlers.generate_scene("a cat", "1", "ink", layout_model=None, icon_model=None, work_dir=tmp_path)
    with pytest.raises(ValueError, match="names no object"):
        scene_handlers.generate_scene("a dragon", "1", "icons", layout_model=str(tiny_layout_dir), icon_model=None,
                                      work_dir=tmp_path)
