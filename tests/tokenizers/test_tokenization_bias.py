"""No tokenization bias in gfx's own vocabularies: every token is one whole
symbol and no token sequence spells what another one spells, so a model's token probabilities are the
probabilities of the text, and a prompt cut between tokens never ends inside one.

- SVG tokenizers (every config tried and every shipped tokenizer.json): the token strings are prefix-free,
  so a concatenated token text has exactly one spelling; on the corpus sample, that spelling is `encode`'s
  and `encode(decode(ids)) == ids` (one sequence per document). The path grammar allows only such
  sequences; the semantic grammar also allows non-canonical ones (a strict xfail below says which).
- `LayoutTokenizer`: ids split into disjoint per-field ranges, and `encode(decode(ids)) == ids` for every
  sequence its grammar allows (no two sequences decode to the same layout).
- VAT codes: one fixed-width token per code at a fixed position per scale; the stored bytes read back
  to the same codes.

Text encoders (MiniLM WordPiece, CLIP BPE) only read prompts and never generate, so they are not here.
"""

from __future__ import annotations

import functools
import json
import random

import numpy as np
import pytest

from gfx.data.parts3d import CATEGORIES, LABELS, generate
from gfx.mesh.layout_lm import BOS, EOS, PAD, LayoutTokenizer
from gfx.mesh.vat import VATCodes, VATConfig
from gfx.models import MODELS_DIR
from gfx.svg.tokenizers.registry import PathTokenizer, SemanticTokenizer, load_tokenizer

SVG_TOKENIZERS = {
    "path": PathTokenizer(),
    "path-margin": PathTokenizer(margin=10, stroke_widths=(0.5, 1.0, 1.5, 2.0, 10.0)),
    "path-coarse": PathTokenizer(grid=9, stroke_widths=(1.0, 2.0)),
    "semantic": SemanticTokenizer(),
    "semantic-thirds": SemanticTokenizer(steps_per_unit=3, colour_levels=3),
    "semantic-wide": SemanticTokenizer(steps_per_unit=8, number_range=(-30.0, 130.0), colour_levels=6),
}
SHIPPED_SVG = sorted(p.parent for p in MODELS_DIR.glob("*/tokenizer/tokenizer.json")
                     if "scheme" in json.loads(p.read_text()))  # gfx SVG tokenizers, not a diffusion pipeline's CLIP


def prefix_pairs(vocab: list[str]) -> list[tuple[str, str]]:
    """Pairs (a, b) of token strings where a is a prefix of b (equal strings included)."""
    words = sorted(vocab)
    return [(a, b) for a, b in zip(words[:-1], words[1:], strict=True) if b.startswith(a)]


def spellings(text: str, vocab: list[str]) -> tuple[int, list[int] | None]:
    """How many token sequences spell `text` exactly (dynamic programming over positions), and the
    ids of one of them (None when there is none)."""
    ids: dict[str, int] = {s: i for i, s in enumerate(vocab)}
    longest = max(map(len, vocab))
    ways, last = [1] + [0] * len(text), [None] * (len(text) + 1)
    for end in range(1, len(text) + 1):
        for start in range(max(0, end - longest), end):
            token = ids.get(text[start:end])
            if token is not None and ways[start]:
                ways[end] += ways[start]
                last[end] = (start, token)
    if not ways[-1]:
        return 0, None
    out, end = [], len(text)
    while end:
        end, token = last[end]
        out.append(token)
    return ways[-1], out[::-1]


def test_the_checks_see_an_ambiguous_vocabulary():
    vocab = ["<p1>", "1", "12", "2"]
    assert prefix_pairs(vocab) == [("1", "12")]
    assert spellings("<p1>121", vocab)[0] == 2  # <p1> 1 2 1 and <p1> 12 1
    assert spellings("<p1>", vocab) == (1, [0]) and spellings("<p", vocab) == (0, None)


@pytest.mark.parametrize("name", sorted(SVG_TOKENIZERS))
def test_svg_vocabularies_are_prefix_free(name):
    tok = SVG_TOKENIZERS[name]
    assert len(set(tok.vocab)) == tok.vocab_size and not prefix_pairs(tok.vocab)


@pytest.mark.parametrize("directory", SHIPPED_SVG, ids=lambda p: p.parent.name)
def test_shipped_svg_tokenizers_are_prefix_free(directory):
    tok = load_tokenizer(directory)
    assert not prefix_pairs(tok.vocab)


def test_some_models_ship_an_svg_tokenizer():
    assert len(SHIPPED_SVG) >= 2  # iconshop-mini, starvector-mini: the test above is not empty


@functools.cache
def corpus_sample(scheme: str) -> list[list[int]]:
    """`encode` of every 79th corpus icon (201 icons, the sample of tests/svg/test_tokenize.py)."""
    from gfx.data.icons import load_icons
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg

    tok = SVG_TOKENIZERS[scheme]
    docs = [normalize(parse_svg(r.original), to_paths=scheme == "path") for r in load_icons()[::79]]
    return [tok.encode(doc) for doc in docs]


@pytest.mark.parametrize("scheme", ["path", "semantic"])
def test_corpus_token_texts_have_one_spelling_and_one_sequence_per_icon(scheme):
    tok = SVG_TOKENIZERS[scheme]
    for ids in corpus_sample(scheme):
        text = "".join(tok.token_strings(ids))
        assert spellings(text, tok.vocab) == (1, ids)
        assert tok.encode(tok.decode(ids)) == ids


def grammar_walks(tok, n: int, rng: random.Random, max_len: int = 80) -> list[list[int]]:
    """`n` complete sequences `[BOS] body [EOS]` by random walks under the tokenizer's grammar."""
    from gfx.backbones.constraints import Grammar, new_bitmask, unpack_bitmask

    grammar, out = Grammar(tok.vocab, tok.grammar(), [tok.eos_id]), []
    while len(out) < n:
        constraint, ids, mask = grammar.constraint(), [tok.bos_id], new_bitmask(1, tok.vocab_size)
        for _ in range(max_len):
            constraint.fill_mask(mask, 0)
            allowed = unpack_bitmask(mask, tok.vocab_size)[0].nonzero().flatten().tolist()
            if tok.eos_id in allowed and rng.random() < 0.15:
                out.append(ids + [tok.eos_id])
                break
            ids.append(rng.choice([t for t in allowed if t != tok.eos_id]))
            assert constraint.advance(ids[-1])
    return out


@pytest.mark.parametrize(
    "tok",
    [
        PathTokenizer(grid=9, stroke_widths=(1.0, 2.0)),
        pytest.param(
            SemanticTokenizer(steps_per_unit=1, colour_levels=2),
            marks=pytest.mark.xfail(
                strict=True,
                reason="the semantic grammar also allows what encode leaves out: default-valued style "
                "attributes (`stroke-width= <1>`, `fill-rule= <nonzero>`) and invisible elements "
                "(`opacity= <0>`), so several sequences decode to one document",
            ),
        ),
    ],
    ids=["path", "semantic"],
)
def test_every_grammatical_svg_sequence_is_the_encoding_of_its_document(tok):
    for ids in grammar_walks(tok, 100, random.Random(0)):
        assert tok.encode(tok.decode(ids)) == ids, tok.token_strings(ids)


# --- part layouts -------------------------------------------------------------------------------
LAYOUT = LayoutTokenizer(tuple(CATEGORIES), tuple(LABELS))  # the default bins, as LayoutLMConfig


def layout_fields(tok: LayoutTokenizer) -> list[tuple[str, int]]:
    """(field, value) of every id, from the tokenizer's ranges."""
    out = [("special", PAD), ("special", BOS), ("special", EOS)]
    out += [("category", c) for c in range(len(tok.categories))]
    out += [("label", c) for c in range(len(tok.labels))]
    for j in range(6):
        assert tok.field_start(j) == len(out), f"field {j} does not start where the previous one ends"
        out += [(f"box{j}", b) for b in range(tok.field_bins(j))]
    return out


def test_layout_ids_are_one_field_value_each():
    fields = layout_fields(LAYOUT)
    assert len(fields) == LAYOUT.vocab_size == len(set(fields))
    assert LAYOUT.category_start == 3 and LAYOUT.label_start == 3 + len(CATEGORIES)


def random_layout(tok: LayoutTokenizer, rng: random.Random) -> list[int]:
    """A sequence the layout grammar allows, by a random walk of its automaton."""
    constraint, ids = tok.constraint(), [BOS]
    while not constraint.is_done():
        token = rng.choice(sorted(tok._allowed(constraint.state)))
        assert constraint.advance(token)
        ids.append(token)
    return ids


def test_every_grammatical_layout_sequence_is_the_encoding_of_its_layout():
    rng = random.Random(0)
    for _ in range(100):
        ids = random_layout(LAYOUT, rng)
        assert LAYOUT.encode(*LAYOUT.decode(ids)) == ids, ids


def test_dataset_layouts_have_one_sequence():
    names = list(CATEGORIES)
    for category in names:
        for index in range(3):
            obj = generate(category, index)
            ids = LAYOUT.encode(names.index(category), obj.boxes, obj.label_ids)
            assert LAYOUT.encode(*LAYOUT.decode(ids)) == ids


# --- VAT codes ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scales, codebook",
    [
        (VATConfig().scales, VATConfig().codebook_size),
        (VATConfig.from_name("tiny").scales, 16),
        ((1, 4, 16), 1024),
    ],
)
def test_vat_codes_are_fixed_width_tokens_in_fixed_places(tmp_path, scales, codebook):
    rng = np.random.default_rng(0)
    indices = [rng.integers(0, codebook, n) for n in scales]
    indices[-1][-1] = codebook - 1  # the largest code must survive the stored width
    codes = VATCodes(indices)
    loaded = VATCodes.load(codes.save(tmp_path / "codes.npz"))
    assert [i.tolist() for i in loaded.indices] == [i.tolist() for i in indices]
    flat = np.concatenate(indices)  # the generator's sequence: scale s at positions sum(scales[:s]) ...
    assert [p.tolist() for p in np.split(flat, np.cumsum(scales)[:-1])] == [i.tolist() for i in indices]
    assert codes.num_bytes(codebook) == len(flat) * (1 if codebook <= 256 else 2)
