"""The icon corpus: real icon sets from pinned npm packages, normalized and committed under assets/icons/.

Sources (docs/ARCHITECTURE.md): Tabler outline and Lucide are the stroke-icon domain, Tabler filled and
MDI the filled-icon domain. `ICON_SOURCES` registers each pinned package with the reader that takes every
SVG with its name, tags and category out of it; `gfx.recipes.icon_corpus.build_icons` turns them into the
committed files. `load_icons` reads those files back; it needs neither npm nor the network.

Splits are a pure function of an icon's normalized SVG text, so adding or removing other icons never
moves an icon between splits (see `split_of`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from gfx.data.npm import NpmPackage
from gfx.paths import shipped

ICONS_DIR = shipped("icons")
"""Where the committed corpus lives (assets/icons/ in a checkout, package data in a wheel):
`<source>.jsonl.gz`, manifest.json, NOTICE.md, LICENSES/."""

SPLITS = ("train", "val", "test")
SPLIT_RULE = (
    "bucket = int(sha256(svg).hexdigest()[:8], 16) % 100; train if bucket < 90, val if bucket < 95, else test"
)
ID_LENGTH = 16
"""Hex digits of sha256(svg) kept as a record id."""


@dataclass(frozen=True)
class IconRecord:
    """One normalized icon of the corpus.

    Attributes:
        id: first `ID_LENGTH` hex digits of sha256 of `svg`; unique across all sources.
        source: key of `ICON_SOURCES`, e.g. "mdi".
        name: the package's icon name, e.g. "arrow-left-circle".
        tags: lowercase keywords: the package's tags, then the names (as words) of merged duplicates.
        category: the package's category for the icon, or None where the package has none.
        split: "train", "val" or "test" (`split_of(svg)`).
        svg: the normalized SVG text (`gfx.svg.core.serialize.to_svg` of the normalized document).
        original: the icon file's text exactly as shipped in the package.
    """

    id: str
    source: str
    name: str
    tags: tuple[str, ...]
    category: str | None
    split: str
    svg: str
    original: str

    @property
    def text(self) -> str:
        """A prompt built from the metadata: name words, tags, category, e.g.
        "arrow left circle, direction, west, arrows"."""
        return ", ".join(_unique([words(self.name), *self.tags, (self.category or "").lower()]))


@dataclass(frozen=True)
class RawIcon:
    """One SVG file read from a package, before parsing.

    Attributes:
        name: file stem, e.g. "arrow-left-circle".
        tags: lowercase keywords from the package metadata.
        category: package category or None.
        original: the file text.
        listed: True when the package metadata lists this name (False e.g. for Lucide's alias files).
    """

    name: str
    tags: tuple[str, ...]
    category: str | None
    original: str
    listed: bool


@dataclass(frozen=True)
class IconSource:
    """A registered icon source: one pinned package and how to read its icons.

    Attributes:
        name: registry key and output file stem, e.g. "tabler-outline".
        package: the pinned npm package (version and tarball integrity).
        license: the licence the package declares (SPDX id), checked against package.json at build time.
        read: package root folder -> the source's icons.
    """

    name: str
    package: NpmPackage
    license: str
    read: Callable[[Path], Iterable[RawIcon]]


def words(name: str) -> str:
    """An icon name as words: "arrow-left-circle" -> "arrow left circle"."""
    return " ".join(part for part in re.split(r"[-_\s]+", name) if part)


def clean_tags(values: Iterable[object]) -> tuple[str, ...]:
    """Lowercase, whitespace-collapsed, de-duplicated tags in first-seen order; None and blanks dropped."""
    return tuple(_unique(" ".join(str(v).split()).lower() for v in values if v is not None))


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return list(seen)


def _svg_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.svg"))
    if not files:
        raise FileNotFoundError(f"no SVG files in {folder}; the package layout changed, update its reader")
    return files


def _read_tabler(root: Path, style: str) -> Iterator[RawIcon]:
    """Tabler: icons/<style>/<name>.svg; icons.json maps name -> {category, tags, styles}."""
    meta = json.loads((root / "icons.json").read_text(encoding="utf-8"))
    for path in _svg_files(root / "icons" / style):
        entry = meta.get(path.stem, {})
        yield RawIcon(
            name=path.stem,
            tags=clean_tags(entry.get("tags", ())),
            category=entry.get("category") or None,
            original=path.read_text(encoding="utf-8"),
            listed=path.stem in meta,
        )


def _read_lucide(root: Path) -> Iterator[RawIcon]:
    """Lucide: icons/<name>.svg; tags.json maps name -> tags. Unlisted files are aliases; no categories."""
    meta = json.loads((root / "tags.json").read_text(encoding="utf-8"))
    for path in _svg_files(root / "icons"):
        yield RawIcon(
            name=path.stem,
            tags=clean_tags(meta.get(path.stem, ())),
            category=None,
            original=path.read_text(encoding="utf-8"),
            listed=path.stem in meta,
        )


def _read_mdi(root: Path) -> Iterator[RawIcon]:
    """MDI: svg/<name>.svg; meta.json lists {name, aliases, tags}. Its tags are groups such as
    "Home Automation": the first becomes the category, aliases (as words) and further groups the tags."""
    meta = {entry["name"]: entry for entry in json.loads((root / "meta.json").read_text(encoding="utf-8"))}
    for path in _svg_files(root / "svg"):
        entry = meta.get(path.stem, {})
        groups = list(entry.get("tags", ()))
        yield RawIcon(
            name=path.stem,
            tags=clean_tags([*(words(a) for a in entry.get("aliases", ())), *groups[1:]]),
            category=groups[0] if groups else None,
            original=path.read_text(encoding="utf-8"),
            listed=path.stem in meta,
        )


TABLER = NpmPackage(
    "@tabler/icons",
    "3.52.0",
    "sha512-dldKlJNfO/gZnGLcIY0X2EFFKIMGwL/rEvTqglvBgAPFiwj9pZOCN5V3Sf0Gyjq6foX4VQmLdOmsS4w5FdWKAw==",
)
LUCIDE = NpmPackage(
    "lucide-static",
    "1.62.0",
    "sha512-WBZA/m2PvkFpMGHDtsBck5P2A9G4ehLlYu4GwwICcmEm1BvYVgj00lCDxKRWLlbMlOibLaiwdQ88G5pHkSWgwA==",
)
MDI = NpmPackage(
    "@mdi/svg",
    "7.4.47",
    "sha512-WQ2gDll12T9WD34fdRFgQVgO8bag3gavrAgJ0frN4phlwdJARpE6gO1YvLEMJR0KKgoc+/Ea/A0Pp11I00xBvw==",
)

ICON_SOURCES: dict[str, IconSource] = {
    "tabler-outline": IconSource("tabler-outline", TABLER, "MIT", partial(_read_tabler, style="outline")),
    "tabler-filled": IconSource("tabler-filled", TABLER, "MIT", partial(_read_tabler, style="filled")),
    "lucide": IconSource("lucide", LUCIDE, "ISC", _read_lucide),
    "mdi": IconSource("mdi", MDI, "Apache-2.0", _read_mdi),
}
"""Registered icon sources, in priority order: an icon shipped by several sources is kept by the first."""


def get_source(name: str) -> IconSource:
    """The registered source called `name`; raises KeyError listing the valid names."""
    try:
        return ICON_SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown icon source {name!r}; valid sources: {', '.join(ICON_SOURCES)}") from None


def split_of(svg: str) -> str:
    """The split of an icon, a pure function of its normalized SVG text (`SPLIT_RULE`, 90/5/5)."""
    bucket = int(hashlib.sha256(svg.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 90 else "val" if bucket < 95 else "test"


def icon_id(svg: str) -> str:
    """The record id of a normalized SVG text: a short sha256 hex digest."""
    return hashlib.sha256(svg.encode("utf-8")).hexdigest()[:ID_LENGTH]


# ---------------------------------------------------------------- loading


def corpus_file(root: Path, source: str) -> Path:
    """The records file of one source in the corpus folder `root`: `<source>.jsonl.gz`."""
    return Path(root) / f"{source}.jsonl.gz"


def read_manifest(root: Path = ICONS_DIR) -> dict:
    """The corpus manifest: per source its package, version, integrity, counts per split and skipped files."""
    path = Path(root) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; build the corpus with `gfx data build-icons`")
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=16)
def _read_records(path: Path, mtime_ns: int) -> tuple[IconRecord, ...]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return tuple(IconRecord(**{**row, "tags": tuple(row["tags"])}) for row in map(json.loads, f))


def clear_record_cache() -> None:
    """Forget the records `load_icons` keeps in memory (call after rewriting corpus files)."""
    _read_records.cache_clear()


def load_icons(
    source: str | None = None, split: str | None = None, *, root: Path = ICONS_DIR
) -> list[IconRecord]:
    """Load committed icon records, optionally of one source and/or one split.

    Args:
        source: a key of `ICON_SOURCES`, or None for every source in the corpus manifest.
        split: "train", "val", "test", or None for all.
        root: the corpus folder (default: the committed assets/icons/).

    Returns:
        Records ordered by source (registry order), then name, then id.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if source is not None:
        names = [get_source(source).name]
    else:
        built = read_manifest(root)["sources"]
        names = [name for name in ICON_SOURCES if name in built]
    records: list[IconRecord] = []
    for name in names:
        path = corpus_file(root, name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; build it with `gfx data build-icons`")
        rows = _read_records(path.resolve(), path.stat().st_mtime_ns)
        records.extend(r for r in rows if split is None or r.split == split)
    return records
