"""Shared machinery of the SVG tokenizers: the string vocabulary, special ids, json files, FIM layout.

A concrete tokenizer (`gfx.svg.tokenizers.path.PathTokenizer`, `gfx.svg.tokenizers.semantic.SemanticTokenizer`)
subclasses `VocabTokenizer`, builds its `vocab` (token strings; ids are list indices) and implements
`encode`, `_parse` (one strict parser shared by `decode` and `is_valid`) and `grammar`.

Every vocabulary starts with the same five specials, `<pad> <bos> <eos> <mask> <eom>` = ids 0..4, and
is prefix-free (no token string is a prefix of another), so the concatenated token strings spell one
token sequence only. That is what XGrammar needs: it matches the concatenated bytes, and grammars
never spell the specials (docs/papers.md, XGrammar).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path as FilePath
from typing import Any, ClassVar

import numpy as np

from gfx.config import ConfigMixin
from gfx.files import write_text
from gfx.svg.core.document import Document, Path, SVGError

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<mask>", "<eom>")
PAD_ID, BOS_ID, EOS_ID, MASK_ID, EOM_ID = range(len(SPECIAL_TOKENS))
SPECIAL_DESCRIPTIONS = {
    "<pad>": "padding",
    "<bos>": "start of SVG",
    "<eos>": "end of SVG",
    "<mask>": "masked span placeholder",
    "<eom>": "end of masked span",
}
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1


class BrokenSequence(Exception):
    """Raised by a parser at the first token that the grammar does not allow."""

    def __init__(self, position: int, expected: str):
        super().__init__(position, expected)
        self.position, self.expected = position, expected


class VocabTokenizer:
    """Base of the SVG tokenizers: vocabulary, specials, decode/validity driver, FIM, save/load; its
    subclasses are `gfx.tokenizers.protocol.Tokenizer[Document]`s.

    Subclasses set `scheme`, `config_class`, build `self.vocab` in `__init__` (specials first) and
    implement `encode`, `_parse` and `grammar`.
    """

    scheme: ClassVar[str]
    config_class: ClassVar[type[ConfigMixin]]
    pad_id, bos_id, eos_id, mask_id, eom_id = PAD_ID, BOS_ID, EOS_ID, MASK_ID, EOM_ID
    special_ids = frozenset(range(len(SPECIAL_TOKENS)))

    def __init__(self, config: ConfigMixin | None = None, **overrides: Any):
        config = config if config is not None else self.config_class()
        self.config = config.replace(**overrides) if overrides else config
        self.vocab: list[str] = list(SPECIAL_TOKENS)
        self._ids: dict[str, int] | None = None

    # --- vocabulary -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """The token string of each id (`<unk:N>` for ids outside the vocabulary)."""
        n = len(self.vocab)
        return [self.vocab[i] if 0 <= i < n else f"<unk:{i}>" for i in map(int, ids)]

    def token_ids(self, strings: Iterable[str]) -> list[int]:
        """Inverse of `token_strings`; unknown strings raise SVGError."""
        if self._ids is None:
            self._ids = {s: i for i, s in enumerate(self.vocab)}
        try:
            return [self._ids[s] for s in strings]
        except KeyError as err:
            raise SVGError(f"{err.args[0]!r} is not a {self.scheme} token") from None

    # --- decoding -------------------------------------------------------------------------
    def encode(self, doc: Document) -> list[int]:
        raise NotImplementedError

    def grammar(self) -> str:
        raise NotImplementedError

    def _parse(self, body: Sequence[int], strict: bool) -> list:
        """Elements of a body (no specials). Raises BrokenSequence at the first bad token when
        `strict`, else returns the elements completed before it."""
        raise NotImplementedError

    def decode(self, ids: Iterable[int], strict: bool = True) -> Document:
        """Token ids back to a Document in the tokenizer's viewBox.

        Specials other than EOS are ignored and decoding stops at the first EOS.

        Args:
            ids: token ids, e.g. the output of `encode` or of a sampler.
            strict: raise SVGError on a structurally invalid sequence; when False, keep the
                elements completed before the first invalid token and drop the rest.
        """
        body = []
        for t in map(int, ids):
            if t == EOS_ID:
                break
            if t not in self.special_ids:
                body.append(t)
        try:
            elements = self._parse(body, strict)
        except BrokenSequence as err:
            raise SVGError(self._describe(body, err)) from None
        return Document(view_box=tuple(float(v) for v in self.config.view_box), elements=elements)

    def is_valid(self, ids: Sequence[int]) -> bool:
        """True when `ids` is `[BOS] body [EOS]` with a body the grammar accepts (no other specials)."""
        body = [int(t) for t in ids]
        if body and body[0] == BOS_ID:
            body = body[1:]
        if body and body[-1] == EOS_ID:
            body = body[:-1]
        if any(t in self.special_ids for t in body):
            return False
        try:
            self._parse(body, strict=True)
        except BrokenSequence:
            return False
        return True

    def _describe(self, body: Sequence[int], err: BrokenSequence) -> str:
        if err.position >= len(body):
            return (
                f"{self.scheme} token sequence ends early: expected {err.expected} after {len(body)} tokens"
            )
        got = self.token_strings([body[err.position]])[0]
        return f"invalid {self.scheme} token {got!r} at body position {err.position}: expected {err.expected}"

    def _check_view_box(self, doc: Document) -> None:
        if not np.allclose(doc.view_box, self.config.view_box):
            raise SVGError(
                f"document viewBox {tuple(doc.view_box)} differs from the tokenizer's {tuple(self.config.view_box)}; "
                f"normalize(doc, view_box={tuple(self.config.view_box)}) first"
            )

    # --- fill-in-the-middle (IconShop / CM3 causal masking) --------------------------------
    def fim_split(self, ids: Sequence[int], start: int, end: int) -> list[int]:
        """Move `ids[start:end]` to the end: `prefix MASK suffix MASK middle EOM`.

        With `ids = encode(doc)` this is `BOS pre MASK post EOS MASK middle EOM`; at inference feed
        everything up to the second MASK and sample until EOM (docs/papers.md, IconShop).
        """
        ids = [int(t) for t in ids]
        if not 0 <= start <= end <= len(ids):
            raise SVGError(f"FIM span [{start}, {end}) is outside the sequence of {len(ids)} tokens")
        return ids[:start] + [MASK_ID] + ids[end:] + [MASK_ID] + ids[start:end] + [EOM_ID]

    def fim_join(self, ids: Sequence[int]) -> list[int]:
        """Splice a FIM sequence back: `prefix MASK suffix MASK middle [EOM ...]` -> prefix middle suffix.

        Tokens after EOM are dropped; a missing EOM takes the middle to the end of `ids`.
        """
        ids = [int(t) for t in ids]
        masks = [i for i, t in enumerate(ids) if t == MASK_ID]
        if len(masks) < 2:
            raise SVGError(f"a FIM sequence needs two <mask> tokens; this one has {len(masks)}")
        first, second = masks[0], masks[1]
        end = ids.index(EOM_ID, second) if EOM_ID in ids[second:] else len(ids)
        return ids[:first] + ids[second + 1 : end] + ids[first + 1 : second]

    def element_starts(self, ids: Sequence[int]) -> list[int]:
        """Positions in `ids` where an element begins (handy FIM span boundaries)."""
        return [i for i, t in enumerate(ids) if int(t) in self._element_start_ids]

    _element_start_ids: frozenset[int] = frozenset()

    # --- files ------------------------------------------------------------------------------
    def vocab_hash(self) -> str:
        """A short digest of the vocabulary, stored in tokenizer.json to catch layout changes."""
        return hashlib.sha256("\n".join(self.vocab).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "vocab_size": self.vocab_size,
            "vocab_hash": self.vocab_hash(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if data.get("scheme") != cls.scheme:
            raise SVGError(
                f"tokenizer.json has scheme {data.get('scheme')!r}; {cls.__name__} reads {cls.scheme!r}"
            )
        tok = cls(cls.config_class.from_dict(data.get("config", {})))
        for key, have in (("vocab_size", tok.vocab_size), ("vocab_hash", tok.vocab_hash())):
            if key in data and data[key] != have:
                raise SVGError(
                    f"tokenizer.json {key} {data[key]!r} does not match this code's {have!r}; "
                    "the token layout changed since it was saved: retrain or pin the older gfx"
                )
        return tok

    def save(self, path: str | os.PathLike) -> FilePath:
        """Write `tokenizer.json` (to `path`, or into it when it is a directory); returns the file."""
        path = FilePath(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a tokenizer saved by `save` (a file, or a directory holding tokenizer.json)."""
        return cls.from_dict(read_tokenizer_json(path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, config={self.config})"


def read_tokenizer_json(path: str | os.PathLike) -> dict[str, Any]:
    """The dict stored in a tokenizer.json file (or in `path/tokenizer.json`)."""
    path = FilePath(path)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tokenizer.json there; save one with tokenizer.save(path)")
    return json.loads(path.read_text())


def canonical_subpaths(path: Path) -> tuple[str, np.ndarray]:
    """A normalized path's commands and points in the form both tokenizers encode.

    Every subpath starts with M: a drawing command right after Z gets an explicit `M` at the
    subpath start (the point SVG continues from), and a repeated Z is dropped. Rendering is unchanged.

    Returns:
        commands: letters from "MLCZ", starting with M (empty for an empty path).
        points: (N, 2) float64, viewBox units, one row per point the commands consume.
    """
    commands, points = path.commands, path.points
    if commands and commands[0] != "M":
        raise SVGError(f"path data starts with {commands[0]!r}; it must start with M (normalize it first)")
    if not re.search(r"Z[^M]", commands):
        return commands, points
    out_cmds, out_pts, k, start = [], [], 0, 0
    for i, c in enumerate(commands):
        n = POINT_ARITY[c]
        if c == "M":
            start = len(out_pts)
        elif commands[i - 1] == "Z":
            if c == "Z":
                continue
            out_cmds.append("M")
            out_pts.append(out_pts[start])
            start = len(out_pts) - 1
        out_cmds.append(c)
        out_pts.extend(points[k : k + n])
        k += n
    return "".join(out_cmds), np.asarray(out_pts, dtype=np.float64).reshape(-1, 2)


POINT_ARITY = {"M": 1, "L": 1, "C": 3, "Z": 0}
"""Points each normalized path command consumes."""


def interleave_commands(command_ids: np.ndarray, arg_counts: np.ndarray, arg_ids: np.ndarray) -> list[int]:
    """Lay out `cmd args cmd args ...` in one vectorised pass.

    Args:
        command_ids: (K,) int64 token id of each command.
        arg_counts: (K,) int64 argument tokens each command takes.
        arg_ids: (sum(arg_counts),) int64 argument token ids in order.
    """
    if int(arg_counts.sum()) != len(arg_ids):
        raise SVGError(f"path commands need {int(arg_counts.sum())} argument tokens but got {len(arg_ids)}")
    lengths = 1 + arg_counts
    starts = np.cumsum(lengths) - lengths
    out = np.empty(int(lengths.sum()), dtype=np.int64)
    is_arg = np.ones(len(out), dtype=bool)
    is_arg[starts] = False
    out[starts] = command_ids
    out[is_arg] = arg_ids
    return out.tolist()


def zero_length_segment(ids: Sequence[int], command_ids: dict[str, int], first_coordinate: int,
                        point_size: int) -> list[int]:
    """The tokens that would make a path segment end where it starts, as sampling bans.

    A point P is `point_size` coordinate tokens (ids >= `first_coordinate`). After `... P L` and all but the last
    token of P, or `... P C P P` and all but the last token of P, P's last token is banned. The one exception is a
    dot: a subpath that is only `M P L P` (or `M P C P P P`), drawn by a round cap; after it, L and C are banned.
    Repeated zero-length segments are how a small model loops until its token budget; in the corpus they are
    quantization leftovers of tiny segments.

    Returns:
        the token ids to ban next (often none).
    """
    for name in ("L", "C"):
        arity = POINT_ARITY[name]
        for written in (point_size * arity - 1, point_size * arity):  # the segment's points less one token, or all
            size = point_size + 1 + written
            if len(ids) <= size:
                continue
            tail = list(ids[-size:])
            point = tail[:point_size]
            if (tail[point_size] != command_ids[name] or min(point) < first_coordinate
                    or tail[point_size + 1 :] != (point * arity)[:written]):
                continue
            dot = ids[-size - 1] == command_ids["M"]
            if written < point_size * arity and not dot:
                return [point[-1]]
            if written == point_size * arity and dot:
                return [command_ids["L"], command_ids["C"]]
    return []


def ebnf_choice(strings: Iterable[str]) -> str:
    """An EBNF alternation of string literals: `"a" | "b"`."""
    return " | ".join(json.dumps(s) for s in strings)


def number_string(value: float) -> str:
    """Shortest decimal spelling that reads back as `value`: 12.375 -> '12.375', 3.0 -> '3', -0.0 -> '0'."""
    text = repr(float(value)).removesuffix(".0")
    return "0" if text == "-0" else text


def nearest_level(levels: np.ndarray, value: float) -> int:
    """Index of the level closest to `value` (levels: (K,) float64)."""
    return int(np.argmin(np.abs(levels - value)))
