"""The decoder: cached forward == full forward, masks, prefixes, extra embeddings, training path."""

import pytest
import torch

from gfx.backbones.transformer import Transformer, TransformerConfig, next_token_loss

from .conftest import make_model


def test_presets_build_and_validate():
    for name in TransformerConfig.PRESETS:
        assert TransformerConfig.from_name(name).head_dim % 2 == 0
    assert TransformerConfig.from_name("small").hidden_dim == 704
    with pytest.raises(ValueError, match="heads of even width"):
        TransformerConfig(d_model=30, n_head=4)


def test_chunked_cached_forward_matches_full_forward(prefix_model):
    tokens, prefix = torch.randint(0, 48, (2, 12)), torch.randn(2, 4, 8)
    with torch.no_grad():
        full = prefix_model(tokens, prefix=prefix)
        cache = prefix_model.new_cache(2, 32)
        parts = [prefix_model(tokens[:, :5], prefix=prefix, cache=cache)]
        parts += [prefix_model(tokens[:, i : i + 1], cache=cache) for i in range(5, 12)]
    assert cache.length == cache.position == 16
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-4, rtol=1e-4)


def test_left_padding_does_not_change_a_row(model):
    tokens = torch.randint(1, 48, (1, 7))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), tokens], 1)
    mask = torch.tensor([[False] * 3 + [True] * 7])
    with torch.no_grad():
        plain = model(tokens)
        masked = model(padded, attention_mask=mask)[:, 3:]
        cache = model.new_cache(1, 16)
        cached = model(padded, attention_mask=mask, cache=cache)[:, 3:]
    torch.testing.assert_close(masked, plain, atol=1e-4, rtol=1e-4)  # RoPE is relative: the shift is harmless
    torch.testing.assert_close(cached, plain, atol=1e-4, rtol=1e-4)


def test_masked_prefix_entries_are_ignored(prefix_model):
    tokens, prefix = torch.randint(0, 48, (1, 5)), torch.randn(1, 3, 8)
    extended = torch.cat([prefix, torch.randn(1, 2, 8)], 1)
    mask = torch.tensor([[True, True, True, False, False]])
    with torch.no_grad():
        a = prefix_model(tokens, prefix=prefix)
        b = prefix_model(
            tokens,
            prefix=extended,
            prefix_mask=mask,
            position_ids=torch.tensor([[0, 1, 2, 3, 4, 3, 4, 5, 6, 7]]),
        )
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_explicit_attention_mask_and_positions_reproduce_causal(model):
    tokens = torch.randint(0, 48, (2, 6))
    causal = torch.ones(6, 6, dtype=torch.bool).tril().expand(2, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(
            model(tokens, attn_mask=causal, position_ids=torch.arange(6).expand(2, 6)),
            model(tokens),
            atol=1e-4,
            rtol=1e-4,
        )
        # a token that may only see itself gives the same output whatever precedes it
        only_self = torch.eye(6, dtype=torch.bool).expand(2, 6, 6)
        a = model(tokens, attn_mask=only_self, position_ids=torch.zeros(2, 6, dtype=torch.long))
        b = model(tokens[:, -1:])
    torch.testing.assert_close(a[:, -1:], b, atol=1e-4, rtol=1e-4)


def test_extra_embeddings_come_from_the_token_table():
    model = make_model(extra_vocab_sizes=(4, 4))
    table = torch.full((48, 2), -1, dtype=torch.long)
    table[20:24, 0], table[20:24, 1] = torch.arange(4), torch.arange(4).flip(0)
    model.set_token_extra_ids(table)
    tokens = torch.tensor([[1, 20, 21, 23]])
    with torch.no_grad():
        explicit = model(tokens, extra_ids=table[tokens])
        implicit = model(tokens)
        ignored = model(tokens, extra_ids=torch.full((1, 4, 2), -1))
    assert torch.equal(explicit, implicit) and not torch.allclose(implicit, ignored)
    with pytest.raises(ValueError, match="below extra_vocab_sizes"):
        model.set_token_extra_ids(table + 5)


def test_loss_decreases_and_respects_mask(model):
    model.train()
    tokens = torch.randint(0, 48, (4, 10))
    loss_mask = torch.ones(4, 10, dtype=torch.bool)
    loss_mask[:, :5] = False
    logits = model(tokens)
    expected = torch.nn.functional.cross_entropy(logits[:, 4:-1].flatten(0, 1), tokens[:, 5:].flatten())
    torch.testing.assert_close(next_token_loss(logits, tokens, loss_mask), expected)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model.loss({"tokens": tokens}).item()
    for _ in range(20):
        opt.zero_grad()
        model.loss({"tokens": tokens}).backward()
        opt.step()
    assert model.loss({"tokens": tokens}).item() < first - 0.5


def test_positions_beyond_max_seq_len_raise(model):
    with pytest.raises(ValueError, match="max_seq_len 256"):
        model(torch.zeros(1, 257, dtype=torch.long))


def test_block_causal_mask_sees_own_and_earlier_blocks_only():
    from gfx.backbones.layers import block_causal_mask

    blocks = torch.tensor([-1, 0, 0, 1, 1, 2])
    mask = block_causal_mask(blocks, blocks)
    expected = torch.tensor([[1, 0, 0, 0, 0, 0],
                             [1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 1, 1, 0],
                             [1, 1, 1, 1, 1, 0],
                             [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(mask, expected)
    assert torch.equal(block_causal_mask(blocks[3:], blocks), expected[3:])  # queries of a later step


def test_embeds_replace_token_embeddings_and_exactly_one_input_is_given():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig.from_name("tiny", vocab_size=11)).eval()
    tokens = torch.randint(11, (2, 5))
    assert torch.allclose(model.hidden(tokens), model.hidden(None, embeds=model.embed(tokens)), atol=1e-6)
    with pytest.raises(ValueError, match="either tokens or embeds"):
        model.hidden(tokens, embeds=model.embed(tokens))
