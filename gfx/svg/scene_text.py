"""Scene prompts as the layout model reads them: the objects a prompt names, and its words as tokens.

    prompt = parse_scene("two small trees left of a house and a sun above the house")
    prompt.groups        # (Group("tree", 2, "small"), Group("house", 1, None), Group("sun", 1, None))
    prompt.words         # ["two", "small", "tree", "<o0>", "left", "of", "a", "house", "<o1>", ...]

A group is a known icon concept (`gfx.data.scene_layouts.CONCEPTS`, singular or plural) with the count and size
words just before it ("a", "two", "3", "small", "large"); a plural without a count means two. "the house" after
a house is named refers back to it rather than adding one. In `words` each concept is written singular and
followed by its group's slot marker `<oK>`, so the model knows which phrase each layout object belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gfx.data.scene_layouts import CONCEPTS, COUNT_WORDS, MAX_OBJECTS, PLURALS, SIZE_WORDS, Group

MAX_WORDS = 64
"""Longest prompt in words."""
_SINGULAR = {**{c: c for c in CONCEPTS}, **{p: c for c, p in PLURALS.items()}}


class ScenePromptError(ValueError):
    """A prompt the scene generator cannot lay out; the message says what to change."""


@dataclass(frozen=True)
class ScenePrompt:
    """A parsed prompt: its groups in order of first mention, and its words with slot markers."""

    text: str
    groups: tuple[Group, ...]
    words: tuple[str, ...]

    @property
    def object_count(self) -> int:
        return sum(g.count for g in self.groups)


def slot(k: int) -> str:
    """The marker of group `k` in `ScenePrompt.words`."""
    return f"<o{k}>"


def parse_scene(text: str) -> ScenePrompt:
    """Parse a scene prompt; ScenePromptError when it names no known object or too many."""
    tokens = re.findall(r"[a-z]+|\d+", text.lower())
    if len(tokens) > MAX_WORDS:
        raise ScenePromptError(f"the prompt has {len(tokens)} words; the limit is {MAX_WORDS}")
    groups: list[Group] = []
    seen: dict[str, int] = {}
    words: list[str] = []
    for i, token in enumerate(tokens):
        concept = _SINGULAR.get(token)
        if concept is None:
            words.append(token)
            continue
        before = tokens[max(0, i - 2) : i]
        count = next((_count(w) for w in reversed(before) if _count(w)), None)
        if concept in seen and (count is None or (before and before[-1] == "the")):
            words += [concept, slot(seen[concept])]  # "the house": the house named before
            continue
        if count is None:
            count = 1 if token == concept else 2
        size = next((SIZE_WORDS[w] for w in reversed(before) if w in SIZE_WORDS), None)
        seen[concept] = len(groups)
        groups.append(Group(concept, count, size))
        words += [concept, slot(seen[concept])]
    if not groups:
        known = ", ".join(list(CONCEPTS)[:8])
        raise ScenePromptError(f"the prompt {text[:60]!r} names no object the scene model knows; "
                               f"name some of: {known}, ... (gfx.data.scene_layouts.CONCEPTS)")
    total = sum(g.count for g in groups)
    if total > MAX_OBJECTS:
        raise ScenePromptError(f"the prompt asks for {total} objects; the limit is {MAX_OBJECTS}")
    return ScenePrompt(text, tuple(groups), tuple(words))


def _count(word: str) -> int | None:
    if word.isdigit():
        return int(word[:7])  # a hostile 10,000-digit count stays a small number to report
    return COUNT_WORDS.get(word)
