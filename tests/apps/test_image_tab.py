"""The studio's text -> image tab: shown only with a model, a picker of the models there are (diffusion, Hita, xAR),
images and per-word attention maps from the handler; the autoregressive models refuse the UNet's controls."""

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


def test_geom_erasing_steers_a_model_that_learned_a_concept_and_is_refused_elsewhere(tiny_image_model, tmp_path,
                                                                                      monkeypatch):
    import shutil

    import gfx.image
    from gfx.image.controls import sampled_model
    from gfx.image.geom_erasing import ErasingConfig, ErasingEmbeddings
    from gfx.image.pipeline import load_pipeline

    plain = gfx.image.generate
    monkeypatch.setattr(gfx.image, "generate", lambda *a, **k: plain(*a, **{**k, "steps": 2}))
    erasing = tmp_path / "geom-erasing"  # a data-removal directory: a pipeline and its learned words
    shutil.copytree(tiny_image_model, erasing)
    ErasingEmbeddings.initial(load_pipeline(erasing), ErasingConfig(scale=2.0)).save(erasing)
    assert image_handlers.holds_erasing(str(erasing)) and not image_handlers.holds_erasing(tiny_image_model)
    out = image_handlers.generate_images("a large red circle", 1, "0", False, "", None, None, True,
                                         model_dir=str(erasing), work_dir=tmp_path)
    assert len(out.images) == 1 and "steering away from its learned concept" in out.status
    with pytest.raises(StudioInputError, match="Geom-Erasing needs a model that learned a concept"):
        image_handlers.generate_images("a large red circle", 1, "0", False, "", None, None, True,
                                       model_dir=tiny_image_model, work_dir=tmp_path)
    # the CLI and the job kind sample a data-removal concept's own pipeline unless a model is named
    assert sampled_model(None, erasing) == str(erasing) and sampled_model(None, None) is None
    assert sampled_model(tiny_image_model, erasing) == tiny_image_model


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_image_model):
    """A models folder with the tiny diffusion model as shapes-diffusion, a tiny Hita and xAR, and a model that is
    no text -> image pipeline."""
    from gfx.image.hita import HitaPipeline, HitaTokenizer, HitaTokenizerConfig
    from gfx.image.world_features import WorldFeatureNet, WorldFeaturesConfig
    from gfx.image.xar import XAR, XARConfig, XARPipeline

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    (root / "shapes-diffusion").symlink_to(tiny_image_model)
    tokenizer = HitaTokenizer(HitaTokenizerConfig.from_name("tiny"))
    HitaPipeline(tokenizer, HitaPipeline.new_generator(tokenizer.config, "tiny")).save_pretrained(root / "hita-mini")
    XARPipeline(XAR(XARConfig.from_name("tiny"))).save_pretrained(root / "xar-mini")
    WorldFeatureNet(WorldFeaturesConfig.from_name("tiny")).save_pretrained(root / "world-features")
    return root


@pytest.fixture
def in_models_dir(models_dir, monkeypatch):
    monkeypatch.setattr("gfx.models.MODELS_DIR", models_dir)
    return models_dir


def test_the_picker_lists_the_image_pipelines_there_are_the_default_first(in_models_dir, tiny_image_model):
    models = image_handlers.image_models()
    assert list(models) == ["shapes-diffusion (diffusion)", "hita-mini (Hita, autoregressive)",
                            "xar-mini (xAR, autoregressive)"]  # not world-features
    assert models["xar-mini (xAR, autoregressive)"] == str(in_models_dir / "xar-mini")
    assert list(image_handlers.image_models(tiny_image_model))[:2] == [f"{tiny_image_model} (diffusion)",
                                                                        "hita-mini (Hita, autoregressive)"]
    (in_models_dir / "xar-mini").rename(in_models_dir / "gone")
    try:
        assert "xar-mini (xAR, autoregressive)" not in image_handlers.image_models()
    finally:
        (in_models_dir / "gone").rename(in_models_dir / "xar-mini")


def test_an_ar_model_draws_without_attention_maps_and_refuses_the_unet_controls(in_models_dir, tmp_path):
    xar = str(in_models_dir / "xar-mini")
    assert image_handlers.takes_unet_controls(str(in_models_dir / "shapes-diffusion"))
    assert not image_handlers.takes_unet_controls(xar) and image_handlers.model_note(None) == ""
    assert "xar-mini is autoregressive: ToMe" in image_handlers.model_note(xar)
    out = image_handlers.generate_images("a large red circle", 2, "1", False, "", model_dir=xar, work_dir=tmp_path)
    assert len(out.images) == 2 and out.attention == [] and out.status.startswith("2 image(s) by xar-mini in ")
    with pytest.raises(StudioInputError, match=r"hita-mini is autoregressive and takes no diffusion controls "
                                               r"\(ToMe, a set\); pick a diffusion model"):
        image_handlers.generate_images("a {} circle", 1, "0", True, "red\nblue",
                                       model_dir=str(in_models_dir / "hita-mini"), work_dir=tmp_path)


def test_the_tab_has_a_model_picker_that_turns_off_what_a_model_cannot_run(in_models_dir, tmp_path):
    pytest.importorskip("gradio")
    from gfx.apps import studio

    ui = studio.build_studio(work_dir=str(tmp_path))
    by_id = {block.elem_id: block for block in ui.blocks.values() if getattr(block, "elem_id", None)}
    picker = by_id["image-model"]
    assert [label for label, _ in picker.choices] == list(image_handlers.image_models())
    assert picker.value == str(in_models_dir / "shapes-diffusion") and by_id["image-tome"].interactive is True
    [pick] = [f for f in ui.fns.values() if f.name == "pick_model"]
    note, *updates = pick.fn(str(in_models_dir / "hita-mini"))
    assert "hita-mini is autoregressive" in note and all(u["interactive"] is False for u in updates)
    assert len(updates) == 5 and [f for f in ui.fns.values() if f.name == "generate_images"][0].inputs[-1] == picker
