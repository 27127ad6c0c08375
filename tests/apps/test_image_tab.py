"""The studio's text -> image tab: shown only with a model, images and per-word attention maps from the handler."""

import numpy as np
import pytest
import torch
from PIL import Image

from gfx.apps import image_handlers
from gfx.apps.studio_handlers import StudioInputError


@pytest.fixture(scope="module")
def tiny_image_model(tmp_path_factory) -> str:
    """Directory of a tiny random `ShapesDiffusionPipeline`."""
    from gfx.image.pipeline import ShapesDiffusionConfig, ShapesDiffusionPipeline
    from gfx.image.tokenizer import clip_tokenizer
    from gfx.recipes.shapes_diffusion import CLIP_BPE

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("shapes-tiny")
    ShapesDiffusionPipeline.build(ShapesDiffusionConfig.from_name("tiny"), clip_tokenizer(CLIP_BPE)).save_pretrained(
        directory)
    return str(directory)


def test_images_and_one_attention_map_per_word(tiny_image_model, tmp_path, monkeypatch):
    import gfx.image

    plain = gfx.image.generate
    monkeypatch.setattr(gfx.image, "generate", lambda *a, **k: plain(*a, **{**k, "steps": 2}))
    out = image_handlers.generate_images("a large red circle", 2, "3", True, "", model_dir=tiny_image_model,
                                         work_dir=tmp_path)
    assert [caption for _, caption in out.images] == ["#0 · a large red circle", "#1 · a large red circle"]
    assert [word for _, word in out.attention] == ["a", "large", "red", "circle"]
    shown = np.asarray(Image.open(out.attention[3][0]))
    assert shown.shape == (image_handlers.SHOWN_SIZE, image_handlers.SHOWN_SIZE, 3)
    assert "2 image(s) with ToMe" in out.status and "seed 3" in out.status


def test_a_set_from_variation_lines(tiny_image_model, tmp_path, monkeypatch):
    import gfx.image

    plain = gfx.image.generate_set
    monkeypatch.setattr(gfx.image, "generate_set", lambda *a, **k: plain(*a, **{**k, "steps": 2}))
    out = image_handlers.generate_images("a large {} heart", 1, "0", False, "red\n\nblue\n",
                                         model_dir=tiny_image_model, work_dir=tmp_path)
    assert [caption for _, caption in out.images] == ["#0 · a large red heart", "#1 · a large blue heart"]
    assert out.status.startswith("a set of 2 image(s)")
    with pytest.raises(StudioInputError, match="at most 8 images"):
        image_handlers.check_variations("\n".join("abcdefghi"))


def test_the_tab_appears_only_with_a_model(tiny_image_model, tmp_path):
    gr = pytest.importorskip("gradio")
    from gfx.apps import studio

    def tabs(**kwargs):
        ui = studio.build_studio(work_dir=str(tmp_path), **kwargs)
        return [b.label for b in ui.blocks.values() if isinstance(b, gr.Tab)]

    assert "Text -> image" in tabs(image_model_dir=tiny_image_model)
    assert image_handlers.image_model_available(None) == ("Text -> image" in tabs())


def test_learned_concept_and_style_inputs(tiny_image_model, tmp_path, monkeypatch):
    import gfx.image
    from gfx.image.core import ConceptConfig, LearnedConcept
    from gfx.image.style_tokenizer import StyleTokenizer, StyleTokenizerConfig

    plain = gfx.image.generate
    monkeypatch.setattr(gfx.image, "generate", lambda *a, **k: plain(*a, **{**k, "steps": 2}))
    LearnedConcept(ConceptConfig("<cross>"), torch.randn(16)).save(tmp_path / "cross")
    StyleTokenizer(StyleTokenizerConfig.from_name("tiny", token_dim=16)).save_pretrained(tmp_path / "style")
    reference = np.full((64, 64, 3), 200, np.uint8)
    out = image_handlers.generate_images("a <cross>", 1, "0", False, "", str(tmp_path / "cross"), reference,
                                         model_dir=tiny_image_model, work_dir=tmp_path,
                                         style_model=str(tmp_path / "style"))
    assert len(out.images) == 1 and out.attention == [] and "in the reference's style" in out.status
    with pytest.raises(StudioInputError, match="no learned concept"):
        image_handlers.generate_images("a <cross>", 1, "0", False, "", str(tmp_path), None,
                                       model_dir=tiny_image_model, work_dir=tmp_path)
