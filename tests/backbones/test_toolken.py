"""ToolkenGPT rows: adding tokens keeps the old logits, and training touches the new rows only."""

import pytest
import torch

from gfx.backbones.toolken import train_new_rows_only, with_new_tokens
from gfx.train import TrainConfig, train

from .conftest import make_model


@pytest.mark.parametrize("tied", [True, False])
def test_new_tokens_keep_the_old_logits(tied):
    model = make_model(tie_embeddings=tied, extra_vocab_sizes=(5,))
    model.set_token_extra_ids(torch.randint(-1, 5, (48, 1)))
    rows = torch.randn(3, 32)
    grown = with_new_tokens(model, rows).eval()
    assert grown.config.vocab_size == 51 and (grown.token_extra_ids[48:] == -1).all()
    assert torch.equal(grown.embed.weight[48:], rows) and torch.equal(grown.lm_head.weight[48:], rows)
    tokens = torch.randint(0, 48, (2, 10))
    with torch.no_grad():
        torch.testing.assert_close(grown(tokens)[..., :48], model(tokens), atol=0, rtol=0)
        assert grown(torch.tensor([[49, 3, 50]])).shape == (1, 3, 51)  # the new ids embed


@pytest.mark.parametrize("tied", [True, False])
def test_training_changes_only_the_new_rows(tied):
    grown = with_new_tokens(make_model(tie_embeddings=tied), torch.randn(3, 32) * 0.02)
    before = {k: v.clone() for k, v in grown.state_dict().items()}
    train_new_rows_only(grown, 48)
    batches = [{"tokens": torch.randint(0, 51, (4, 12))} for _ in range(5)]
    train(grown, batches, TrainConfig(steps=5, lr=1e-2, warmup_steps=0, weight_decay=0.0, eval_every=0))
    after = grown.state_dict()
    for key, value in before.items():
        if key in ("embed.weight", "lm_head.weight"):
            assert torch.equal(after[key][:48], value[:48]), key
            assert not torch.equal(after[key][48:], value[48:]), key
        else:
            assert torch.equal(after[key], value), key
