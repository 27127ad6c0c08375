"""Instruction data for LLM4SVG from the icon corpus: describe, draw and edit examples, deterministic and cached.

Training icons are `icon_protocols.training_records` (the train split without the concept-disjoint protocol's
held-out concepts), validation icons the val split; no test icon is ever used. Per icon whose semantic sequence
fits `max_svg_tokens` (`instructions`):

1. describe: the SVG -> `describe_answer` ("Category: name words"; "Icon" for an icon without a category);
2. draw: the name's words -> the SVG; for a third of the icons (by id) also the full keywords (`IconRecord.text`);
   with `draw_variants` k, k more draws per icon, each a shuffled subset of its keywords -> the SVG moved by whole
   units (up to `MAX_SHIFT`, staying in the viewBox): IconShop's keyword prompts and translation, fixed per icon;
3. edit, when the icon fits `max_edit_tokens`: one of `EDITS` (picked by id among those that change the icon), the
   SVG -> the edited SVG.

Every choice is a function of the icon's id, so the data is the same on every run; it is cached by content under
`CACHE_DIR`.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gfx.data.icons import IconRecord, words
from gfx.files import write_bytes
from gfx.paths import cache_dir
from gfx.recipes.iconshop_data import keywords_of, sample_prompt
from gfx.svg.core.document import Document
from gfx.svg.core.geometry import bounding_box, transform_element
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.tokenizers.semantic import SemanticTokenizer

CACHE_DIR = cache_dir("llm4svg")
DATA_VERSION = 1
"""Bump when the instructions change, to invalidate the cache."""
UNCATEGORISED = "Icon"
MAX_SVG_TOKENS = 256
"""Icons longer than this (semantic tokens, BOS and EOS included) give no instructions."""
MAX_EDIT_TOKENS = 128
"""Edit instructions only for icons, and edits, up to this length (an edit example holds two icons)."""
MAX_SHIFT = 2
"""How far a draw variant moves its icon, in viewBox units per axis (of 24)."""


@dataclass(frozen=True)
class Instruction:
    """One training example.

    Attributes:
        icon: the corpus id of the icon it comes from (split hygiene).
        task: "describe", "draw" or "edit".
        text: the instruction's text (draw: the description; edit: what to do; describe: "").
        svg: the input SVG's semantic ids `BOS ... EOS` (describe, edit), else ().
        answer: the describe answer text, else "".
        target: the output SVG's semantic ids (draw, edit), else ().
    """

    icon: str
    task: str
    text: str
    svg: tuple[int, ...] = ()
    answer: str = ""
    target: tuple[int, ...] = ()


def describe_answer(record: IconRecord) -> str:
    """What the describe instruction answers for an icon: "Category: name words"."""
    return f"{record.category or UNCATEGORISED}: {words(record.name)}"


def _map_points(matrix) -> Callable[[Document], Document]:
    def edit(doc: Document) -> Document:
        return Document(doc.view_box, [transform_element(e, np.asarray(matrix, dtype=np.float64))
                                       for e in doc.elements])

    return edit


def _recolour(colour: str) -> Callable[[Document], Document]:
    def paint(value):
        return colour if value == "#000000" else value

    def edit(doc: Document) -> Document:
        return Document(doc.view_box, [
            dataclasses.replace(e, style=e.style.replace(fill=paint(e.style.fill), stroke=paint(e.style.stroke)))
            for e in doc.elements])

    return edit


def _drop_last(doc: Document) -> Document:
    return Document(doc.view_box, doc.elements[:-1])


EDITS: dict[str, Callable[[Document], Document]] = {
    "mirror it horizontally": _map_points([[-1, 0, 24], [0, 1, 0]]),
    "flip it upside down": _map_points([[1, 0, 0], [0, -1, 24]]),
    "remove the last shape": _drop_last,
    "make it red": _recolour("#ff0000"),
    "make it blue": _recolour("#0000ff"),
}
"""Edit instructions -> the edit, on a document normalized into the 24-unit viewBox (`to_paths=False`)."""


def apply_edit(instruction: str, doc: Document) -> Document:
    """The document after an `EDITS` instruction, normalized again (canonical order); KeyError lists the edits."""
    if instruction not in EDITS:
        raise KeyError(f"unknown edit {instruction!r}; valid edits: {', '.join(EDITS)}")
    return normalize(EDITS[instruction](doc), view_box=doc.view_box, to_paths=False)


def _bucket(icon_id: str, salt: str) -> int:
    return int(hashlib.sha256(f"{salt}:{icon_id}".encode()).hexdigest()[:8], 16)


def shifted(doc: Document, rng: np.random.Generator, most: int = MAX_SHIFT) -> Document:
    """`doc` moved by a random whole number of units per axis, at most `most`, keeping its geometry inside the
    viewBox (normalized again); `doc` itself when it cannot move."""
    box = bounding_box(doc.elements)
    if box is None:
        return doc
    x0, y0, x1, y1 = box
    vx, vy, vw, vh = doc.view_box
    ranges = [(max(-most, math.ceil(v - low)), min(most, math.floor(v + size - high)))
              for v, size, low, high in ((vx, vw, x0, x1), (vy, vh, y0, y1))]
    dx, dy = (int(rng.integers(lo, hi + 1)) if lo <= hi else 0 for lo, hi in ranges)
    if dx == dy == 0:
        return doc
    return normalize(_map_points([[1, 0, dx], [0, 1, dy]])(doc), view_box=doc.view_box, to_paths=False)


def icon_instructions(record: IconRecord, tokenizer: SemanticTokenizer, max_svg_tokens: int = MAX_SVG_TOKENS,
                      max_edit_tokens: int = MAX_EDIT_TOKENS, draw_variants: int = 0) -> list[Instruction]:
    """The instructions of one icon (none when its sequence is longer than `max_svg_tokens`)."""
    doc = normalize(parse_svg(record.svg), view_box=tokenizer.config.view_box, to_paths=False)
    ids = tuple(tokenizer.encode(doc))
    if len(ids) > max_svg_tokens:
        return []
    out = [Instruction(record.id, "describe", "", svg=ids, answer=describe_answer(record)),
           Instruction(record.id, "draw", words(record.name), target=ids)]
    if _bucket(record.id, "draw") % 3 == 0 and record.text != words(record.name):
        out.append(Instruction(record.id, "draw", record.text, target=ids))
    rng = np.random.default_rng(_bucket(record.id, "variants"))
    for _ in range(draw_variants):
        variant = tuple(tokenizer.encode(shifted(doc, rng)))
        if len(variant) <= max_svg_tokens:
            out.append(Instruction(record.id, "draw", sample_prompt(keywords_of(record), rng, 0.0), target=variant))
    if len(ids) <= max_edit_tokens:
        names = list(EDITS)
        first = _bucket(record.id, "edit") % len(names)
        for name in names[first:] + names[:first]:
            edited = tuple(tokenizer.encode(apply_edit(name, doc)))
            if edited != ids and 2 < len(edited) <= max_edit_tokens:
                out.append(Instruction(record.id, "edit", name, svg=ids, target=edited))
                break
    return out


def instructions(records: Sequence[IconRecord], tokenizer: SemanticTokenizer, max_svg_tokens: int = MAX_SVG_TOKENS,
                 max_edit_tokens: int = MAX_EDIT_TOKENS, split: str = "train",
                 draw_variants: int = 0) -> list[Instruction]:
    """Every instruction of the `split` icons among `records`, in record order; cached by content.

    ValueError when `split` is "test": the test split is for evaluation only."""
    if split == "test":
        raise ValueError("LLM4SVG instructions come from the train and val splits; the test split is for evaluation")
    records = [r for r in records if r.split == split]
    key = hashlib.sha256(json.dumps([DATA_VERSION, tokenizer.vocab_hash(), max_svg_tokens, max_edit_tokens,
                                     draw_variants, [r.id for r in records]]).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"instructions-{key}.json.gz"
    if path.is_file():
        rows = json.loads(gzip.decompress(path.read_bytes()))
        return [Instruction(**{**row, "svg": tuple(row["svg"]), "target": tuple(row["target"])}) for row in rows]
    out = [i for r in records for i in icon_instructions(r, tokenizer, max_svg_tokens, max_edit_tokens, draw_variants)]
    write_bytes(path, gzip.compress(json.dumps([dataclasses.asdict(i) for i in out]).encode()))
    return out


def text_corpus(items: Sequence[Instruction], tokenizer: SemanticTokenizer) -> list[str]:
    """The English an LLM4SVG text tokenizer is built from: templates, instruction texts, answers and the
    semantic tokens' descriptions (their embeddings start from these)."""
    from gfx.svg.llm4svg import TEMPLATES

    templates = [piece.format(text="") for pieces in TEMPLATES.values() for piece in pieces if piece != "<svg>"]
    return [*templates, *(i.text for i in items if i.text), *(f" {i.answer}." for i in items if i.answer),
            *tokenizer.descriptions.values()]
