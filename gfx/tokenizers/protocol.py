"""The `Tokenizer` protocol: what models, samplers and metrics may rely on from a sequence tokenizer.

A tokenizer turns one item of a modality (an SVG `Document`, ...) into token ids and back. Its vocabulary
starts with the specials `<pad> <bos> <eos> <mask> <eom>`; `grammar()` gives the XGrammar EBNF of the
body between BOS and EOS (for constrained decoding), and `fim_split`/`fim_join` the fill-in-the-middle
layout `prefix <mask> suffix <mask> middle <eom>`. Implementations: `gfx.svg.tokenizers`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

Item = TypeVar("Item")


@runtime_checkable
class Tokenizer(Protocol[Item]):
    """A tokenizer of items of type `Item` (e.g. `Tokenizer[Document]`)."""

    scheme: str
    vocab: list[str]
    descriptions: dict[str, str]
    pad_id: int
    bos_id: int
    eos_id: int
    mask_id: int
    eom_id: int

    @property
    def vocab_size(self) -> int: ...

    def encode(self, item: Item) -> list[int]:
        """Token ids `[BOS, body..., EOS]`."""
        ...

    def decode(self, ids: Iterable[int], strict: bool = True) -> Item:
        """Ids back to an item; ignores specials, stops at EOS; an error on an invalid body unless
        `strict=False`, which drops the broken tail."""
        ...

    def is_valid(self, ids: Sequence[int]) -> bool: ...

    def token_strings(self, ids: Iterable[int]) -> list[str]: ...

    def grammar(self) -> str:
        """XGrammar EBNF of the body between BOS and EOS."""
        ...

    def fim_split(self, ids: Sequence[int], start: int, end: int) -> list[int]: ...

    def fim_join(self, ids: Sequence[int]) -> list[int]: ...

    def to_dict(self) -> dict[str, Any]: ...

    def save(self, path: str | os.PathLike) -> os.PathLike: ...
