"""Lexinvariant ID tokens: per-sequence draws, consistent within a sequence, relabelling-equivariant."""

import pytest
import torch

from gfx.backbones.transformer import Transformer, TransformerConfig

START, STOP = 12, 20  # ids 12..19 are labels


def make_model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    config = TransformerConfig.from_name(
        "tiny", vocab_size=24, lexinvariant_ids=(START, STOP), tie_embeddings=False, init_std=0.5
    )
    return Transformer(config).eval()


def test_vectors_are_resampled_per_sequence_and_consistent_within_one():
    model = make_model()
    tokens = torch.tensor([[1, 12, 3, 12, 15], [1, 12, 3, 12, 15]])
    model.lexinvariant.draw(2, torch.Generator().manual_seed(0))
    x = model.embed_tokens(tokens)  # (2, 5, C)
    assert torch.equal(x[:, 1], x[:, 3])  # one label, one vector within a sequence
    assert not torch.allclose(x[0, 1], x[1, 1])  # another sequence, another vector
    assert not torch.allclose(x[0, 1], x[0, 4])  # another label, another vector
    assert torch.equal(x[0, [0, 2]], x[1, [0, 2]])  # other tokens keep their learned rows
    first = x.clone()
    model.lexinvariant.draw(2, torch.Generator().manual_seed(1))
    assert not torch.allclose(model.embed_tokens(tokens)[:, 1], first[:, 1])  # a new draw, new vectors


def test_output_is_invariant_to_a_permutation_of_the_id_labels():
    model = make_model()
    tokens = torch.tensor([[1, 12, 3, 14, 12, 5, 19, 14, 2]])
    vectors = model.lexinvariant.draw(1, torch.Generator().manual_seed(0)).clone()
    logits = model(tokens)  # (1, T, V)
    perm = torch.tensor([5, 3, 7, 0, 6, 1, 2, 4])  # label START + k becomes START + perm[k]
    relabelled = torch.where(tokens >= START, START + perm[(tokens - START).clamp(min=0)], tokens)
    model.lexinvariant.vectors = torch.empty_like(vectors)
    model.lexinvariant.vectors[:, perm] = vectors  # the same draw, relabelled alike
    out = model(relabelled)
    assert torch.allclose(out[..., :START], logits[..., :START], atol=1e-5)
    assert torch.allclose(out[..., STOP:], logits[..., STOP:], atol=1e-5)
    assert torch.allclose(out[..., START + perm], logits[..., START:STOP], atol=1e-5)


def test_learned_rows_of_id_tokens_are_unused():
    model = make_model()
    tokens = torch.tensor([[1, 12, 3, 14, 13]])
    model.lexinvariant.draw(1, torch.Generator().manual_seed(0))
    before = model(tokens)
    with torch.no_grad():
        model.embed.weight[START:STOP] += 5.0
        model.lm_head.weight[START:STOP] += 5.0
    assert torch.allclose(model(tokens), before, atol=1e-6)


def test_loss_draws_per_batch_and_decoding_needs_a_draw():
    model = make_model().train()
    batch = {"tokens": torch.tensor([[1, 12, 3, 12, 2]])}
    torch.manual_seed(0)
    first = float(model.loss(batch))
    assert float(model.loss(batch)) != first  # a new draw per call
    fresh = make_model()
    with pytest.raises(ValueError, match=r"draw\(1\) first"):
        fresh(batch["tokens"])


def test_config_round_trips(tmp_path):
    model = make_model()
    model.save_pretrained(tmp_path)
    loaded = Transformer.from_pretrained(tmp_path)
    assert loaded.config.lexinvariant_ids == (START, STOP) and loaded.lexinvariant.stop == STOP
