"""The object builder of the part dataset: label vocabulary, materials, seeded helpers and captions."""

from __future__ import annotations

import numpy as np

MAX_PARTS = 16
LABELS = (
    "seat", "backrest", "leg", "stretcher", "armrest", "post", "slat", "caster", "cushion", "screw",
    "top", "apron", "drawer", "knob", "foot", "pedestal", "shelf",
    "base", "stem", "arm", "joint", "shade", "bulb", "switch", "finial",
    "body", "handle", "saucer", "lid", "spoon",
    "side", "board", "back_panel", "door", "book", "plinth",
    "frame", "mattress", "headboard", "footboard", "pillow", "blanket",
    "cabin", "wheel", "axle", "headlight", "spoiler", "antenna", "hubcap",
    "fuselage", "wing", "tail_fin", "stabilizer", "engine", "propeller", "hub", "canopy",
)  # fmt: skip
"""Every part label, in a fixed order (the label vocabulary of part models)."""


MATERIALS = {
    "wood": [("oak", (176, 132, 84)), ("walnut", (110, 74, 48)), ("pine", (214, 178, 120)), ("wooden", (150, 105, 65))],
    "metal": [("steel", (150, 155, 162)), ("black metal", (52, 52, 58)), ("brass", (190, 160, 80)), ("chrome", (205, 208, 214))],
    "plastic": [("red", (200, 45, 45)), ("blue", (45, 85, 200)), ("green", (50, 150, 70)), ("yellow", (230, 190, 40)),
                ("white", (232, 232, 232)), ("black", (42, 42, 42)), ("orange", (235, 120, 30))],
    "fabric": [("grey", (140, 140, 150)), ("beige", (210, 195, 165)), ("navy", (40, 50, 100)), ("teal", (40, 130, 130)),
               ("burgundy", (120, 30, 40))],
    "ceramic": [("white", (236, 234, 228)), ("cream", (240, 225, 190)), ("blue", (60, 100, 170)), ("black", (35, 35, 38)),
                ("speckled", (190, 180, 165))],
}  # fmt: skip
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


class Builder:
    """Collects parts for one object under the MAX_PARTS budget, with seeded random helpers."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parts: list[tuple[str, object, tuple[int, int, int], bool]] = []
        self.params: dict = {}

    def u(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def n(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return int(self.rng.integers(low, high + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def material(self, kind: str) -> tuple[str, tuple[int, int, int]]:
        return self.pick(MATERIALS[kind])

    def shade(self, rgb, amount: float = 0.1) -> tuple[int, int, int]:
        f = 1 + self.u(-amount, amount)
        return tuple(int(np.clip(c * f, 0, 255)) for c in rgb)

    def fits(self, count: int) -> bool:
        return len(self.parts) + count <= MAX_PARTS

    def add(self, label: str, mesh, color, hidden: bool = False) -> None:
        assert label in LABELS, label
        self.parts.append((label, mesh, tuple(int(c) for c in color), hidden))


def number_word(n: int) -> str:
    return NUMBER_WORDS.get(n, str(n))


def with_article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def join_words(items: list[str]) -> str:
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def caption_for(b: Builder, subject: str, features: list[str]) -> str:
    """One of a few phrasings of `subject` with `features`, chosen by the object's generator."""
    features = [f for f in features if f]
    templates = [
        lambda: f"{with_article(subject)} with {join_words(features)}",
        lambda: f"{with_article(subject)}: {', '.join(features)}",
        lambda: f"{subject} with {join_words(features)}",
        lambda: f"3d model of {with_article(subject)} with {join_words(features)}",
    ]
    return b.pick(templates)() if features else with_article(subject)
