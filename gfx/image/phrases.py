"""Object phrases of a prompt: which words describe which noun, by words (no parser, no spaCy).

    words = prompt_words("a large red circle to the left of a small blue star")
    object_phrases(words)               # [Phrase(noun=3, attributes=(1, 2)), Phrase(noun=11, attributes=(9, 10))]
    find_phrases(words, ["small blue star"])                         # explicit phrases: the last word is the noun

The rule-based grouper knows the 2D world's vocabulary (`gfx.data.shapes2d.world`): a noun is a shape (or its
plural) and its attributes are the adjacent size, style and colour words in front of it. Pass other `nouns` and
`adjectives` for another world, or name the phrases explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from gfx.data.shapes2d.world import COLORS, SHAPES, SIZES, STYLES

WORLD_NOUNS = frozenset(SHAPES) | {s + "s" for s in SHAPES}
WORLD_ADJECTIVES = frozenset(COLORS) | frozenset(SIZES) | frozenset(STYLES)


@dataclass(frozen=True)
class Phrase:
    """One object phrase as word positions (`prompt_words` indices): its noun and the words that modify it."""

    noun: int
    attributes: tuple[int, ...]


def prompt_words(prompt: str) -> list[str]:
    """Words and punctuation marks in order: "a cat, wearing hats" -> ["a", "cat", ",", "wearing", "hats"]."""
    return re.findall(r"\w+|[^\w\s]", prompt)


def object_phrases(words: Sequence[str], nouns: Collection[str] = WORLD_NOUNS,
                   adjectives: Collection[str] = WORLD_ADJECTIVES) -> list[Phrase]:
    """Every noun of `nouns` with the run of `adjectives` right before it, in prompt order."""
    phrases = []
    for i, word in enumerate(words):
        if word.lower() not in nouns:
            continue
        start = i
        while start > 0 and words[start - 1].lower() in adjectives:
            start -= 1
        phrases.append(Phrase(i, tuple(range(start, i))))
    return phrases


def find_phrases(words: Sequence[str], phrases: Sequence[str]) -> list[Phrase]:
    """Locate each phrase ("large red circle"; articles and numbers are not attributes) in `words`, searching
    on after the previous one; its last word is the noun."""
    lowered = [w.lower() for w in words]
    found, cursor = [], 0
    for phrase in phrases:
        target = [w.lower() for w in prompt_words(phrase) if w.lower() not in {"a", "an", "the", "one", "two",
                                                                                "three"}]
        if not target:
            raise ValueError(f"phrase {phrase!r} has no words besides articles")
        start = next((s for s in range(cursor, len(words) - len(target) + 1)
                      if lowered[s : s + len(target)] == target), None)
        if start is None:
            raise ValueError(f"phrase {phrase!r} is not in the prompt {' '.join(words)!r} (after word {cursor})")
        end = start + len(target) - 1
        found.append(Phrase(end, tuple(range(start, end))))
        cursor = end + 1
    return found


def nouns_only_prompt(words: Sequence[str], phrases: Sequence[Phrase]) -> str:
    """The prompt's objects without their attributes, for end-token substitution: "a circle and a star"."""
    nouns = [f"a {words[p.noun]}" for p in phrases]
    return nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]


def phrase_text(words: Sequence[str], phrase: Phrase) -> str:
    """The phrase alone as a prompt, e.g. "a large red circle" (the anchor of the semantic-binding loss)."""
    return "a " + " ".join(words[i] for i in (*phrase.attributes, phrase.noun))
