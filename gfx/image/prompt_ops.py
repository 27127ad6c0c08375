"""Operations on prompt states (the text encoder's output, (T, D) per prompt) and the token positions they need.

Positions come from the tokenizer, never from counting words: a word may be several tokens ("sunglasses" is one
CLIP token, "teapots" two) and punctuation is a token of its own.

    positions = word_positions(tokenizer, prompt)    # token positions of each word (BOS is position 0)
    groups = [token_group(positions, p) for p in phrases]
    states = merge_tokens(states, groups)            # ToMe: one composite token per object phrase
    states = substitute_end_tokens(states, nouns_only_states, end_position(tokenizer, prompt))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gfx.image.phrases import Phrase, prompt_words


@dataclass(frozen=True)
class TokenGroup:
    """An object phrase as token positions: the noun's tokens (the first becomes the composite token) and its
    attributes' tokens."""

    noun: tuple[int, ...]
    attributes: tuple[int, ...]

    @property
    def composite(self) -> int:
        return self.noun[0]


def word_positions(tokenizer, prompt: str, truncate: bool = False) -> list[tuple[int, ...]]:
    """Token positions of each word of `prompt` (`gfx.image.phrases.prompt_words`; position 0 is BOS).

    Raises ValueError when the words do not tokenize alone as they do in the sentence, or, unless `truncate`,
    when the prompt is longer than the tokenizer keeps (with `truncate` the positions past it are dropped).
    """
    words = prompt_words(prompt)
    expected = tokenizer(prompt, truncation=False).input_ids[1:-1]
    positions, pieces = [], []
    for word in words:
        ids = tokenizer(word, add_special_tokens=False).input_ids
        positions.append(tuple(range(1 + len(pieces), 1 + len(pieces) + len(ids))))
        pieces += ids
    if pieces != expected:
        raise ValueError(f"the words of {prompt!r} tokenize differently alone than in the sentence; "
                         "give ToMe explicit token groups instead")
    if truncate:
        return [tuple(p for p in word if p < tokenizer.model_max_length - 1) for word in positions]
    if len(pieces) + 2 > tokenizer.model_max_length:
        raise ValueError(f"{prompt!r} is {len(pieces) + 2} tokens; the text encoder reads at most "
                         f"{tokenizer.model_max_length}: shorten the prompt")
    return positions


def end_token_id(tokenizer) -> int:
    """The id of the token that ends every prompt: CLIP's end-of-text, BERT's [SEP]."""
    return tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id


def end_position(tokenizer, prompt: str) -> int:
    """Position of the end-of-text token of `prompt`."""
    return len(tokenizer(prompt, truncation=False).input_ids) - 1


def token_group(positions: Sequence[tuple[int, ...]], phrase: Phrase) -> TokenGroup:
    """The tokens of a word-level phrase."""
    return TokenGroup(positions[phrase.noun], tuple(p for w in phrase.attributes for p in positions[w]))


def merge_tokens(states: torch.Tensor, groups: Sequence[TokenGroup], noun_weight: float = 1.1,
                 attribute_weight: float = 1.2) -> torch.Tensor:
    """ToMe's token merging: each group's composite token becomes `noun_weight * sum(noun tokens) +
    attribute_weight * sum(attribute tokens)`; the group's other tokens become zero (they stay in the sequence).

    Args:
        states: (T, D) one prompt's text-encoder states.

    Returns:
        (T, D) new states (autograd flows to `states`).
    """
    out = states.clone()
    for g in groups:
        out[g.composite] = noun_weight * states[list(g.noun)].sum(0) + attribute_weight * (
            states[list(g.attributes)].sum(0) if g.attributes else 0)
        others = [p for p in (*g.noun[1:], *g.attributes)]
        if others:
            out[others] = 0
    return out


def substitute_end_tokens(states: torch.Tensor, replacement: torch.Tensor, start: int) -> torch.Tensor:
    """End-token substitution: positions `start`.. (the end-of-text token and the padding after it) take
    `replacement`'s states at the same positions.

    Args:
        states, replacement: (T, D) states of two prompts (the second e.g. the objects without attributes).
    """
    return torch.cat([states[:start], replacement[start:]])
