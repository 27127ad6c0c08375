"""Lattice migration: old points keep their rows and logits; new rows follow the chosen init."""

import numpy as np
import pytest
import torch

from gfx.backbones.transformer import Transformer, TransformerConfig
from gfx.svg.lattice_migration import INITS, migrate_lattice, new_rows
from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig


def small_model(tokenizer: PathTokenizer) -> Transformer:
    torch.manual_seed(0)
    g = tokenizer.lattice
    config = TransformerConfig.from_name(
        "tiny", vocab_size=tokenizer.vocab_size, extra_vocab_sizes=(g, g), init_std=0.3, tie_embeddings=False
    )
    model = Transformer(config).eval()
    model.set_token_extra_ids(torch.from_numpy(tokenizer.point_xy(np.arange(tokenizer.vocab_size))))
    return model


@pytest.mark.parametrize("init", INITS)
def test_old_points_keep_their_logits(init):
    tok = PathTokenizer(PathTokenizerConfig(grid=5))
    model = small_model(tok)
    new, new_tok = migrate_lattice(model, tok, grid=9, init=init)
    assert new_tok.lattice == 9 and new.config.vocab_size == new_tok.vocab_size
    xy = np.array([[0, 0], [2, 1], [4, 3], [1, 4]])  # old lattice points
    old_ids = [tok.bos_id, tok.paint_ids[0], tok.command_ids["M"], *(tok.point_base + xy[:, 0] + 5 * xy[:, 1])]
    new_ids = [*old_ids[:3], *(new_tok.point_base + 2 * xy[:, 0] + 18 * xy[:, 1])]
    before, after = model(torch.tensor([old_ids])), new(torch.tensor([new_ids]))
    x, y = np.arange(25) % 5, np.arange(25) // 5
    old_columns, new_columns = tok.point_base + x + 5 * y, new_tok.point_base + 2 * x + 18 * y
    assert torch.allclose(after[..., : tok.point_base], before[..., : tok.point_base], atol=1e-5)
    assert torch.allclose(after[..., new_columns], before[..., old_columns], atol=1e-5)


def test_new_rows_per_init():
    old = torch.randn(3, 3, 4)  # (y, x, d) point rows of a 3-value lattice
    mid = new_rows(old, 5, "interpolate")  # (5, 5, 4)
    assert torch.allclose(mid[1, 2], (old[0, 1] + old[1, 1]) / 2)
    assert torch.allclose(mid[1, 1], old[:2, :2].mean((0, 1)))
    assert torch.equal(new_rows(old, 5, "zero")[1, 2], torch.zeros(4))
    assert torch.allclose(new_rows(old, 5, "mean")[3, 3], old.reshape(9, 4).mean(0))
    omp = new_rows(old, 5, "omp")
    assert torch.equal(omp[::2, ::2], old) and not torch.equal(omp[1, 2], torch.zeros(4))
    with pytest.raises(ValueError, match="only if 5 is a multiple of 2"):
        new_rows(old, 6, "interpolate")
