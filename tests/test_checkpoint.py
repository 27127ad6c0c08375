"""save_pretrained -> from_pretrained: identical logits, fp16 storage, tied weights, clear errors."""

import json

import pytest
import torch
from safetensors import safe_open

from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_weights, save_pretrained, tokenizer_path


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


def test_tokenizer_is_saved_through_its_own_save(tmp_path):
    class Tok:
        def save(self, path):
            path.write_text('{"scheme": "test"}')

    tiny_model().save_pretrained(tmp_path, tokenizer=Tok())
    assert json.loads(tokenizer_path(tmp_path).read_text()) == {"scheme": "test"}


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
