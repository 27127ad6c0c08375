"""Prompt-state operations on the real CLIP BPE: token positions from the tokenizer, token merging, end-token
substitution, object phrases and token-embedding injection."""

import pytest
import torch

from gfx.image.denoise import encode_prompts, token_ids
from gfx.image.phrases import (
    Phrase,
    find_phrases,
    nouns_only_prompt,
    object_phrases,
    phrase_text,
    prompt_words,
)
from gfx.image.prompt_ops import (
    TokenGroup,
    end_position,
    merge_tokens,
    substitute_end_tokens,
    token_group,
    word_positions,
)
from gfx.image.token_injection import add_placeholder_tokens, inject_embeddings

PROMPT = "a large red circle to the left of a small blue star"


def test_word_positions_come_from_the_tokenizer(clip_bpe_tokenizer):
    prompt = "a tiny teapots, and a heart"  # "teapots" is two CLIP tokens, the comma one
    positions = word_positions(clip_bpe_tokenizer, prompt)
    ids = clip_bpe_tokenizer(prompt).input_ids
    assert prompt_words(prompt) == ["a", "tiny", "teapots", ",", "and", "a", "heart"]
    assert positions[2] == (3, 4) and positions[3] == (5,) and positions[-1] == (8,)
    assert clip_bpe_tokenizer.decode(ids[3:5]).strip() == "teapots"
    assert end_position(clip_bpe_tokenizer, prompt) == 9 and ids[9] == clip_bpe_tokenizer.eos_token_id
    with pytest.raises(ValueError, match="reads at most 16"):
        word_positions(clip_bpe_tokenizer, PROMPT + " and a large green heart")


def test_object_phrases_group_adjectives_with_their_noun():
    words = prompt_words(PROMPT)
    phrases = object_phrases(words)
    assert phrases == [Phrase(3, (1, 2)), Phrase(11, (9, 10))]
    assert find_phrases(words, ["large red circle", "a small blue star"]) == phrases
    assert [phrase_text(words, p) for p in phrases] == ["a large red circle", "a small blue star"]
    assert nouns_only_prompt(words, phrases) == "a circle and a star"
    three = prompt_words("a purple heart, an orange triangle and a yellow square")
    assert nouns_only_prompt(three, object_phrases(three)) == "a heart, a triangle and a square"
    with pytest.raises(ValueError, match="not in the prompt"):
        find_phrases(words, ["small blue star", "large red circle"])  # phrases are searched in order


def test_merge_tokens_builds_composites_and_zeroes_the_rest():
    states = torch.randn(10, 4)
    groups = [TokenGroup(noun=(3, 4), attributes=(1, 2)), TokenGroup(noun=(7,), attributes=(6,))]
    merged = merge_tokens(states, groups)
    assert torch.allclose(merged[3], 1.1 * (states[3] + states[4]) + 1.2 * (states[1] + states[2]))
    assert torch.allclose(merged[7], 1.1 * states[7] + 1.2 * states[6])
    zero = [1, 2, 4, 6]
    assert torch.equal(merged[zero], torch.zeros(4, 4))
    keep = [0, 5, 8, 9]
    assert torch.equal(merged[keep], states[keep])


def test_merge_tokens_of_a_real_prompt(clip_bpe_tokenizer):
    positions = word_positions(clip_bpe_tokenizer, PROMPT)
    groups = [token_group(positions, p) for p in object_phrases(prompt_words(PROMPT))]
    assert groups == [TokenGroup((4,), (2, 3)), TokenGroup((12,), (10, 11))]
    merged = merge_tokens(torch.ones(16, 8), groups)
    assert merged.abs().sum(-1).eq(0).nonzero().flatten().tolist() == [2, 3, 10, 11]


def test_end_token_substitution_replaces_exactly_the_end_slice():
    states, other = torch.randn(16, 8), torch.randn(16, 8)
    out = substitute_end_tokens(states, other, 13)
    assert torch.equal(out[:13], states[:13]) and torch.equal(out[13:], other[13:])


def test_injected_embeddings_reach_the_prompt_states_and_carry_gradients(shapes_pipe):
    import copy

    tokenizer, text_encoder = copy.deepcopy(shapes_pipe.tokenizer), copy.deepcopy(shapes_pipe.text_encoder)
    pipe = type("Parts", (), {"tokenizer": tokenizer, "text_encoder": text_encoder, "unet": shapes_pipe.unet})()
    [sid] = add_placeholder_tokens(tokenizer, text_encoder, ["<style>"])
    assert sid == len(tokenizer) - 1 and token_ids(tokenizer, ["a <style> circle"])[0, 2] == sid
    with pytest.raises(ValueError, match="already has"):
        add_placeholder_tokens(tokenizer, text_encoder, ["circle</w>"])
    vector = torch.randn(text_encoder.config.hidden_size, requires_grad=True)
    plain = encode_prompts(pipe, ["a <style> circle"])
    with inject_embeddings(text_encoder, {sid: vector}):
        injected = encode_prompts(pipe, ["a <style> circle"])
        embedded = text_encoder.get_input_embeddings()(token_ids(tokenizer, ["a <style> circle"]))
    assert torch.equal(embedded[0, 2], vector.detach()) and not torch.equal(injected, plain)
    (grad,) = torch.autograd.grad(injected.sum(), vector)
    assert grad.abs().sum() > 0
    assert torch.equal(encode_prompts(pipe, ["a <style> circle"]), plain)  # the hook is gone
