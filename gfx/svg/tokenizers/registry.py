"""SVG tokenizers: the scheme registry, tokenizer.json loading, token counts (the `Tokenizer` protocol
they follow is `gfx.tokenizers.protocol`).

Two schemes turn a normalized `Document` into token ids and back:

* `"path"`: `PathTokenizer` (IconShop): one token per quantized (x, y) point, M/L/C/Z commands and
  a few style tokens per path; for documents normalized with `to_paths=True`.
  Layout: `gfx/svg/tokenizers/path.py`.
* `"semantic"`: `SemanticTokenizer` (LLM4SVG): element, attribute, command, number, colour, gradient and
  group (clip path, mask) tokens with English descriptions; for documents normalized with `to_paths=False`.
  Layout: `gfx/svg/tokenizers/semantic.py`.

Both share `<pad> <bos> <eos> <mask> <eom>` = ids 0..4, prefix-free token strings, a `grammar()` in
XGrammar EBNF for the body between BOS and EOS, `is_valid` (the same language in pure Python) and
the fill-in-the-middle layout `prefix <mask> suffix <mask> middle <eom>` (`fim_split`/`fim_join`).

    tok = PathTokenizer()
    ids = tok.encode(normalize(parse_svg(text)))       # [1, 9, 5, 1234, ..., 2]
    doc = tok.decode(ids)                               # paints black, same geometry on the grid
    tok.save(checkpoint_dir)                            # tokenizer.json: scheme + config
    tok = load_tokenizer(checkpoint_dir)
"""

from __future__ import annotations

import functools
import os
from typing import Any

from gfx.config import lookup
from gfx.svg.core.document import Document
from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig
from gfx.svg.tokenizers.semantic import SemanticTokenizer, SemanticTokenizerConfig
from gfx.svg.tokenizers.vocab import SPECIAL_TOKENS, read_tokenizer_json
from gfx.tokenizers.protocol import Tokenizer

__all__ = [
    "SPECIAL_TOKENS",
    "TOKENIZERS",
    "PathTokenizer",
    "PathTokenizerConfig",
    "SemanticTokenizer",
    "SemanticTokenizerConfig",
    "Tokenizer",
    "count_tokens",
    "default_tokenizer",
    "load_tokenizer",
    "tokenizer_from_dict",
]


TOKENIZERS: dict[str, type] = {"path": PathTokenizer, "semantic": SemanticTokenizer}
"""Scheme name (the "scheme" field of tokenizer.json) -> tokenizer class."""


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer[Document]:
    """Build the tokenizer a `to_dict()` describes; an unknown scheme raises KeyError listing the valid ones."""
    cls = lookup(TOKENIZERS, str(data.get("scheme")), "tokenizer scheme")
    return cls.from_dict(data)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer[Document]:
    """Load tokenizer.json (a file, or a checkpoint directory holding one), whatever its scheme."""
    return tokenizer_from_dict(read_tokenizer_json(path))


@functools.cache
def default_tokenizer(scheme: str) -> Tokenizer[Document]:
    """The default-config tokenizer of a scheme (cached; treat it as read-only)."""
    return lookup(TOKENIZERS, scheme, "tokenizer scheme")()


def count_tokens(doc: Document, scheme: str = "path", tokenizer: Tokenizer[Document] | None = None) -> int:
    """Body length (without BOS/EOS) of `doc` under a scheme's default tokenizer, or `tokenizer`.

    `doc` must be normalized for the scheme: `to_paths=True` for "path", `to_paths=False` for "semantic".
    """
    tok = tokenizer if tokenizer is not None else default_tokenizer(scheme)
    return len(tok.encode(doc)) - 2
