"""The icon corpus: real icon sets from pinned npm packages, normalized and committed under assets/icons/.

Sources (DESIGN.md section 3): Tabler outline and Lucide are the stroke-icon domain, Tabler filled and
MDI the filled-icon domain. `build_icons` fetches each pinned tarball (`gfx.data.npm`), reads every SVG
with its name, tags and category, parses and normalizes it (`gfx.svg.parse`, `gfx.svg.normalize`),
merges icons whose normalized SVG is identical, and writes one gzipped JSON-lines file per source.
`load_icons` reads those committed files back; it needs neither npm nor the network.

Splits are a pure function of an icon's normalized SVG text, so adding or removing other icons never
moves an icon between splits (see `split_of`).
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path

from gfx.data.npm import NpmPackage, fetch_tarball, unpack

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
ICONS_DIR = REPO_ROOT / "assets" / "icons"
"""Where the committed corpus lives: `<source>.jsonl.gz`, manifest.json, NOTICE.md, LICENSES/."""
NPM_CACHE_DIR = REPO_ROOT / ".cache" / "npm"
"""Where fetched tarballs are kept between builds (gitignored)."""

SPLITS = ("train", "val", "test")
SPLIT_RULE = (
    "bucket = int(sha256(svg).hexdigest()[:8], 16) % 100; train if bucket < 90, val if bucket < 95, else test"
)
ID_LENGTH = 16
"""Hex digits of sha256(svg) kept as a record id."""
MAX_NORMALIZE_PASSES = 4
"""Re-normalizations of an icon's serialized text allowed before it must be a fixed point."""

ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, label): called after each icon file of a source is processed; label is the source name."""


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
        svg: the normalized SVG text (`gfx.svg.serialize.to_svg` of the normalized document).
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


def _corpus_file(root: Path, source: str) -> Path:
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
        path = _corpus_file(root, name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; build it with `gfx data build-icons`")
        rows = _read_records(path.resolve(), path.stat().st_mtime_ns)
        records.extend(r for r in rows if split is None or r.split == split)
    return records


# ---------------------------------------------------------------- building


def _normalized_svg(original: str) -> str:
    """Parse, normalize and serialize one SVG text; raises SVGError when it cannot be processed."""
    # Imported here: only the build step needs the SVG stack; loading the corpus must stay light.
    from gfx.svg.document import SVGError
    from gfx.svg.normalize import normalize
    from gfx.svg.parse import parse_svg
    from gfx.svg.serialize import to_svg

    document = normalize(parse_svg(original))
    if not document.elements:
        raise SVGError("nothing visible is left after normalization")
    # Re-normalize the serialized text until it is a fixed point, so that a record's `svg` gives
    # itself back through parse -> normalize -> to_svg (rounding can change canonical tie-breaks).
    text = to_svg(document)
    for _ in range(MAX_NORMALIZE_PASSES):
        again = to_svg(normalize(parse_svg(text)))
        if again == text:
            return text
        text = again
    raise SVGError(
        f"normalized text is not stable after {MAX_NORMALIZE_PASSES} passes (MAX_NORMALIZE_PASSES)"
    )


@dataclass(frozen=True)
class NormalizedIcon:
    """A `RawIcon` of `source` with its normalized SVG text, before duplicates are merged."""

    source: str
    icon: RawIcon
    svg: str


def _process_source(
    source: IconSource, root: Path, progress: ProgressFn | None
) -> tuple[list[NormalizedIcon], int]:
    """Parse and normalize every icon of one source; returns the candidates and the number skipped."""
    from gfx.svg.document import SVGError

    icons = list(source.read(root))
    candidates, skipped = [], 0
    for done, icon in enumerate(icons, start=1):
        try:
            candidates.append(NormalizedIcon(source.name, icon, _normalized_svg(icon.original)))
        except SVGError as err:
            skipped += 1
            log.warning("%s: skipped %s: %s", source.name, icon.name, err)
        if progress is not None:
            progress(done, len(icons), source.name)
    log.info("%s: %d icons normalized, %d skipped", source.name, len(candidates), skipped)
    return candidates, skipped


def merge_duplicates(candidates: list[NormalizedIcon], order: list[str]) -> list[IconRecord]:
    """One record per distinct normalized SVG, with the union of names and tags.

    The kept icon is the first by (source position in `order`, listed before unlisted, shorter name,
    name), so e.g. MDI's "heart" is kept over its twin "cards-heart"; the names of the others join its
    tags as words, after its own tags, followed by their tags.
    """
    groups: dict[str, list[NormalizedIcon]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.svg, []).append(candidate)
    records, ids = [], {}
    for svg, group in groups.items():
        group.sort(key=lambda c: (order.index(c.source), not c.icon.listed, len(c.icon.name), c.icon.name))
        keep, others = group[0], group[1:]
        tags = clean_tags(
            [
                *keep.icon.tags,
                *(words(o.icon.name) for o in others),
                *(t for o in others for t in o.icon.tags),
            ]
        )
        category = next((c.icon.category for c in group if c.icon.category), None)
        record = IconRecord(
            id=icon_id(svg),
            source=keep.source,
            name=keep.icon.name,
            tags=tuple(t for t in tags if t != words(keep.icon.name)),
            category=category,
            split=split_of(svg),
            svg=svg,
            original=keep.icon.original,
        )
        if record.id in ids:
            raise RuntimeError(
                f"id collision {record.id} between {ids[record.id]} and {record.name}; raise ID_LENGTH"
            )
        ids[record.id] = record.name
        records.append(record)
    return records


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_records(records: Iterable[IconRecord]) -> bytes:
    """Deterministic gzipped JSON lines: records sorted by (name, id), sorted keys, gzip mtime 0."""
    ordered = sorted(records, key=lambda r: (r.name, r.id))
    text = "".join(
        json.dumps(asdict(r), sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
        for r in ordered
    )
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def _notice(sources: list[IconSource], date: datetime.date) -> str:
    lines = [
        "# Icon corpus: sources and changes",
        "",
        f"Processed by `gfx data build-icons` (`gfx/data/icons.py`) on {date.isoformat()}.",
        "",
        "| source | npm package | version | licence | licence text |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in sources:
        lines.append(
            f"| {s.name} | `{s.package.name}` | {s.package.version} | {s.license} | LICENSES/{s.name}.txt |"
        )
    lines += [
        "",
        "Each tarball was fetched with `npm pack NAME@VERSION` and accepted only if its sha512 matched both the",
        "registry's published integrity and the integrity pinned in `gfx/data/icons.py` (see manifest.json).",
        "",
        "## What we changed",
        "",
        "- Every icon's SVG was parsed and normalized with `gfx.svg.normalize`: basic shapes (circle, ellipse,",
        "  rect, line, polyline, polygon) and all path commands were rewritten as paths of absolute M/L/C/Z",
        "  commands (arcs and quadratic curves as cubic Beziers), transforms were applied, styles were resolved",
        '  (`currentColor` becomes black), invisible elements such as Tabler\'s `<path stroke="none" d="M0 0h24v24H0z"/>`',
        "  were dropped, coordinates were mapped to the canonical viewBox `0 0 24 24` and rounded to 3 decimals,",
        "  and elements and subpaths were put in a canonical order that does not change the picture. Width,",
        "  height, class, id and comments were not kept. The result is the `svg` field.",
        "- Icons whose normalized SVG is identical (aliases within a package, or the same drawing in two",
        "  packages) were merged into one record; the other names were added to its tags.",
        "- Names, tags and categories were taken from the package metadata (Tabler `icons.json`, Lucide",
        "  `tags.json`, MDI `meta.json`), lowercased and de-duplicated.",
        "- The `original` field keeps each icon file's text exactly as shipped.",
        "",
    ]
    return "\n".join(lines)


def build_icons(
    out_dir: Path = ICONS_DIR,
    sources: Iterable[str] | None = None,
    *,
    cache_dir: Path = NPM_CACHE_DIR,
    progress: ProgressFn | None = None,
    date: datetime.date | None = None,
) -> dict:
    """Fetch, verify, normalize, merge and write the icon corpus.

    Writes into `out_dir`: `<source>.jsonl.gz` per source, `LICENSES/<source>.txt`, `NOTICE.md` and
    `manifest.json` (describing exactly the sources built). Duplicates are merged across the sources
    built together, so build a subset only into a separate folder.

    Args:
        out_dir: the corpus folder.
        sources: keys of `ICON_SOURCES` (default: all), processed in registry order.
        cache_dir: where verified npm tarballs are kept.
        progress: optional `progress(done, total, source_name)` callback (the CLI progress-bar convention).
        date: the processing date written to NOTICE.md (default: today).

    Returns:
        The manifest dict that was written.
    """
    names = list(ICON_SOURCES) if sources is None else [get_source(n).name for n in sources]
    chosen = [ICON_SOURCES[n] for n in ICON_SOURCES if n in names]
    out_dir = Path(out_dir)
    candidates: list[NormalizedIcon] = []
    stats: dict[str, dict] = {}
    licences: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gfx-icons-") as tmp:
        for source in chosen:
            tarball = fetch_tarball(source.package, cache_dir)
            root = unpack(source.package, tarball, Path(tmp) / source.name)
            declared = json.loads((root / "package.json").read_text(encoding="utf-8")).get("license")
            if declared != source.license:
                raise RuntimeError(
                    f"{source.package.spec} declares licence {declared!r}, registered {source.license!r}"
                )
            licences[source.name] = (root / "LICENSE").read_text(encoding="utf-8")
            found, skipped = _process_source(source, root, progress)
            candidates.extend(found)
            stats[source.name] = {"files": len(found) + skipped, "skipped": skipped}

    records = merge_duplicates(candidates, order=[s.name for s in chosen])
    manifest = {"split_rule": SPLIT_RULE, "sources": {}}
    for source in chosen:
        own = [r for r in records if r.source == source.name]
        _write_atomic(_corpus_file(out_dir, source.name), encode_records(own))
        _write_atomic(out_dir / "LICENSES" / f"{source.name}.txt", licences[source.name].encode("utf-8"))
        files, skipped = stats[source.name]["files"], stats[source.name]["skipped"]
        manifest["sources"][source.name] = {
            "package": source.package.name,
            "version": source.package.version,
            "integrity": source.package.integrity,
            "license": source.license,
            "file": _corpus_file(out_dir, source.name).name,
            "files": files,
            "skipped": skipped,
            "merged": files - skipped - len(own),
            "records": len(own),
            "splits": {split: sum(r.split == split for r in own) for split in SPLITS},
        }
        log.info(
            "%s: wrote %d records (%s)", source.name, len(own), manifest["sources"][source.name]["splits"]
        )
    _write_atomic(out_dir / "NOTICE.md", _notice(chosen, date or datetime.date.today()).encode("utf-8"))
    _write_atomic(
        out_dir / "manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    )
    _read_records.cache_clear()
    return manifest
