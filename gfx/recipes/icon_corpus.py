"""Build the icon corpus: fetch the pinned npm packages, normalize, merge duplicates, write assets/icons/.

`build_icons` fetches each registered source's tarball (`gfx.data.npm`), reads its icons with the
source's reader (`gfx.data.icons.ICON_SOURCES`), parses and normalizes each SVG (`gfx.svg.core.parse`,
`gfx.svg.core.normalize`), merges icons whose normalized SVG is identical, and writes one gzipped JSON-lines
file per source with its licence, NOTICE.md and manifest.json. `gfx.data.icons` reads the result back.
"""

from __future__ import annotations

import datetime
import gzip
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from gfx.data.icons import (
    ICON_SOURCES,
    ICONS_DIR,
    SPLIT_RULE,
    SPLITS,
    IconRecord,
    IconSource,
    RawIcon,
    clean_tags,
    clear_record_cache,
    corpus_file,
    get_source,
    icon_id,
    split_of,
    words,
)
from gfx.data.npm import fetch_tarball, unpack
from gfx.paths import cache_dir

log = logging.getLogger(__name__)

NPM_CACHE_DIR = cache_dir("npm")
"""Where fetched tarballs are kept between builds (gitignored)."""
MAX_NORMALIZE_PASSES = 4
"""Re-normalizations of an icon's serialized text allowed before it must be a fixed point."""

ProgressFn = Callable[[int, int, str], None]
"""progress(done, total, label): called after each icon file of a source is processed; label is the source name."""


def _normalized_svg(original: str) -> str:
    """Parse, normalize and serialize one SVG text; raises SVGError when it cannot be processed."""
    # Imported here: only the build step needs the SVG stack; loading the corpus must stay light.
    from gfx.svg.core.document import SVGError
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.serialize import to_svg

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
    from gfx.svg.core.document import SVGError

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
        "- Every icon's SVG was parsed and normalized with `gfx.svg.core.normalize`: basic shapes (circle, ellipse,",
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
        _write_atomic(corpus_file(out_dir, source.name), encode_records(own))
        _write_atomic(out_dir / "LICENSES" / f"{source.name}.txt", licences[source.name].encode("utf-8"))
        files, skipped = stats[source.name]["files"], stats[source.name]["skipped"]
        manifest["sources"][source.name] = {
            "package": source.package.name,
            "version": source.package.version,
            "integrity": source.package.integrity,
            "license": source.license,
            "file": corpus_file(out_dir, source.name).name,
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
    clear_record_cache()
    return manifest
