"""save_pretrained -> from_pretrained: identical logits, fp16 storage, tied weights, clear errors; the
directory format (class names, model_index.json), old layouts and their migration."""

import json

import pytest
import torch
from safetensors import safe_open

from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import (
    CLASS_KEY,
    CLASSES,
    CONFIG_NAME,
    LEGACY_SETTINGS_NAME,
    MODEL_INDEX_NAME,
    TOKENIZER_NAME,
    WEIGHTS_NAME,
    load_class,
    load_pretrained,
    load_weights,
    migrate,
    save_pretrained,
)


def tiny_model(**overrides) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig.from_name(
        "tiny", vocab_size=40, prefix_dim=6, extra_vocab_sizes=(5,), **overrides
    )
    model = Transformer(config).eval()
    table = torch.full((40, 1), -1, dtype=torch.long)
    table[10:15, 0] = torch.arange(5)
    model.set_token_extra_ids(table)
    return model


def test_round_trip_gives_identical_logits(tmp_path):
    model = tiny_model()
    tokens, prefix = torch.randint(0, 40, (2, 9)), torch.randn(2, 3, 6)
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    loaded = Transformer.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    assert torch.equal(loaded.token_extra_ids, model.token_extra_ids)
    assert loaded.lm_head.weight is loaded.embed.weight  # tying survives
    with torch.no_grad():
        assert torch.equal(loaded(tokens, prefix=prefix), model(tokens, prefix=prefix))


def test_tied_weights_are_stored_once(tmp_path):
    save_pretrained(tiny_model(), tmp_path)
    with safe_open(str(tmp_path / WEIGHTS_NAME), "pt") as f:
        names = set(f.keys())
        aliases = json.loads(f.metadata()["gfx_aliases"])
    assert "lm_head.weight" not in names and aliases == {"lm_head.weight": "embed.weight"}


def test_fp16_storage_halves_size_and_loads_fp16_rounded_weights(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path / "full")
    model.save_pretrained(tmp_path / "half", dtype=torch.float16)
    full, half = ((tmp_path / d / WEIGHTS_NAME).stat().st_size for d in ("full", "half"))
    assert half < 0.6 * full
    loaded = Transformer.from_pretrained(tmp_path / "half")
    assert loaded.embed.weight.dtype == torch.float32
    assert torch.equal(loaded.embed.weight, model.embed.weight.half().float())


def test_config_names_the_class_and_old_configs_still_load(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert config[CLASS_KEY] == "Transformer"
    assert type(load_pretrained(tmp_path)) is Transformer
    del config[CLASS_KEY]  # a directory saved before the class name was written
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    assert Transformer.from_pretrained(tmp_path).config == model.config
    with pytest.raises(ValueError, match="names no class"):
        load_pretrained(tmp_path)


def test_a_config_of_another_class_is_refused(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    from gfx.svg.icon_clip import IconCLIP

    with pytest.raises(ValueError, match="holds a Transformer, not a IconCLIP"):
        IconCLIP.from_pretrained(tmp_path)


def test_class_registry_resolves_every_entry_and_lists_valid_names():
    for name in CLASSES:
        assert load_class(name).__name__ == name
    with pytest.raises(KeyError, match="unknown checkpoint class 'Nope'; valid names: CausalLM, FullPart"):
        load_class("Nope")


@pytest.fixture
def tiny_iconshop():
    from gfx.svg.iconshop import IconShop, IconShopConfig

    torch.manual_seed(0)
    return IconShop.build(IconShopConfig.from_name("tiny", max_tokens=24))


def test_pipeline_directory_has_an_index_and_a_folder_per_component(tmp_path, tiny_iconshop):
    tiny_iconshop.save_pretrained(tmp_path)
    index = json.loads((tmp_path / MODEL_INDEX_NAME).read_text())
    assert index[CLASS_KEY] == "IconShop"
    assert index["model"] == ["gfx.backbones.transformer", "Transformer"]
    assert index["tokenizer"] == ["gfx.svg.tokenizers.path", "PathTokenizer"]
    assert index["config"] == tiny_iconshop.config.to_dict()
    assert json.loads((tmp_path / "model" / CONFIG_NAME).read_text())[CLASS_KEY] == "Transformer"
    assert (tmp_path / "tokenizer" / TOKENIZER_NAME).is_file()
    assert type(load_pretrained(tmp_path)).__name__ == "IconShop"
    # a model class finds its component inside a pipeline directory (warm starts, gfx.mesh.api)
    assert Transformer.from_pretrained(tmp_path).config == tiny_iconshop.model.config


def save_old_iconshop(pipe, directory):
    """The flat layout IconShop wrote before model_index.json: config.json without a class name,
    model.safetensors, tokenizer.json and pipeline.json."""
    save_pretrained(pipe.model, directory, dtype=torch.float16)
    config = json.loads((directory / CONFIG_NAME).read_text())
    del config[CLASS_KEY]
    (directory / CONFIG_NAME).write_text(json.dumps(config))
    pipe.tokenizer.save(directory / TOKENIZER_NAME)
    pipe.config.to_json(directory / LEGACY_SETTINGS_NAME)


def test_old_pipeline_directory_loads_and_migrates_without_touching_weights(tmp_path, tiny_iconshop):
    from gfx.svg.iconshop import IconShop

    old = tmp_path / "old"
    save_old_iconshop(tiny_iconshop, old)
    weights = (old / WEIGHTS_NAME).read_bytes()
    before = [r.svg for r in IconShop.from_pretrained(old)("star", n=2, seed=0)]
    migrate(old)
    assert sorted(p.name for p in old.iterdir()) == ["model", MODEL_INDEX_NAME, "tokenizer"]
    assert (old / "model" / WEIGHTS_NAME).read_bytes() == weights
    after = load_pretrained(old)
    assert after.config == tiny_iconshop.config
    assert [r.svg for r in after("star", n=2, seed=0)] == before
    migrate(old)  # a second run changes nothing
    assert (old / "model" / WEIGHTS_NAME).read_bytes() == weights


def test_a_pipeline_directory_of_another_class_is_refused(tmp_path, tiny_iconshop):
    from gfx.svg.starvector import StarVector

    tiny_iconshop.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds a IconShop, not a StarVector"):
        StarVector.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no StarVector pipeline"):
        StarVector.from_pretrained(tmp_path / "tokenizer")


def test_missing_directory_and_mismatched_model_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        Transformer.from_pretrained(tmp_path / "nowhere")
    tiny_model().save_pretrained(tmp_path)
    other = Transformer(TransformerConfig.from_name("tiny", vocab_size=40))
    with pytest.raises(ValueError, match="does not match Transformer"):
        load_weights(other, tmp_path)


def test_a_warm_start_keeps_the_initialization_of_new_modules_only(tmp_path):
    plain = Transformer(TransformerConfig.from_name("tiny", vocab_size=40))
    plain.save_pretrained(tmp_path)
    grown = Transformer(TransformerConfig.from_name("tiny", vocab_size=40, prefix_dim=6))  # adds prefix_proj
    new = {k: v.clone() for k, v in grown.state_dict().items() if k.startswith("prefix_proj.")}
    load_weights(grown, tmp_path, new_modules=("prefix_proj.",))
    torch.testing.assert_close(grown.embed.weight, plain.embed.weight)
    assert new and all(torch.equal(grown.state_dict()[k], v) for k, v in new.items())
    with pytest.raises(ValueError, match="missing \\['prefix_proj"):
        load_weights(grown, tmp_path, new_modules=("extra.",))
