"""Structured coordinate embeddings: fixed Fourier features plus a residual that starts at zero."""

import pytest
import torch

from gfx.backbones.coordinate_embedding import FourierCoordinateEmbedding, fourier_features
from gfx.backbones.transformer import Transformer, TransformerConfig


def test_features_are_distinct_per_value_and_ordered_by_the_lowest_frequency():
    f = fourier_features(97, 16)  # (97, 16)
    distances = torch.cdist(f, f) + torch.eye(97)
    assert distances.min() > 1e-3
    assert torch.all(f[1:, 8] < f[:-1, 8])  # cos(pi * u) strictly decreases: the first cos column orders values
    assert torch.allclose(f.norm(dim=1), torch.full((97,), 8**0.5))


def test_features_are_fixed_and_residual_starts_at_zero():
    torch.manual_seed(0)
    table = FourierCoordinateEmbedding(49, 16, std=0.02)
    ids = torch.arange(49)
    assert torch.equal(table(ids), table.features)  # a fresh table is exactly the scaled features
    assert torch.allclose(table.features.pow(2).mean().sqrt(), torch.tensor(0.02))
    assert [name for name, _ in table.named_parameters()] == ["residual"]
    assert "features" not in table.state_dict()
    before = table.features.clone()
    optimizer = torch.optim.SGD(table.parameters(), lr=1.0)
    table(ids).pow(2).sum().backward()
    optimizer.step()
    assert torch.equal(table.features, before)
    assert table.residual.abs().sum() > 0
    assert not torch.equal(table(ids), before)


def test_transformer_uses_fourier_tables_and_round_trips(tmp_path):
    torch.manual_seed(0)
    config = TransformerConfig.from_name("tiny", vocab_size=20, extra_vocab_sizes=(5, 5), coordinate_embedding="fourier")
    model = Transformer(config).eval()
    table = torch.full((20, 2), -1)
    table[10:15, 0] = torch.arange(5)
    table[10:15, 1] = torch.arange(5).flip(0)
    model.set_token_extra_ids(table)
    assert all(isinstance(t, FourierCoordinateEmbedding) for t in model.extra)
    assert torch.equal(model.extra[0](torch.arange(5)), model.extra[0].features)  # the init pass left it at zero
    plain = Transformer(TransformerConfig.from_name("tiny", vocab_size=20, extra_vocab_sizes=(5, 5)))
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in model.parameters())
    tokens = torch.tensor([[1, 10, 12, 14, 3]])
    model.save_pretrained(tmp_path)
    loaded = Transformer.from_pretrained(tmp_path).eval()
    assert loaded.config.coordinate_embedding == "fourier"
    assert torch.allclose(loaded(tokens), model(tokens), atol=1e-3)  # fp16 storage


def test_unknown_coordinate_embedding_is_refused():
    with pytest.raises(ValueError, match="coordinate_embedding 'sinusoid' is not one of"):
        TransformerConfig.from_name("tiny", coordinate_embedding="sinusoid")


def test_the_iconshop_recipe_turns_it_on_by_name():
    from gfx.recipes.iconshop import IconShopRecipe, build

    pipe = build(IconShopRecipe.from_name("tiny", coordinate_embedding="fourier"))
    assert [type(t) for t in pipe.model.extra] == [FourierCoordinateEmbedding] * 2
    assert pipe.model.extra[0].features.shape == (pipe.tokenizer.lattice, pipe.model.config.d_model)
