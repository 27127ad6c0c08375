"""The icon corpus build: merging duplicates, deterministic encoding, an offline build from a cached tarball."""

import datetime
import gzip
import io
import json
import tarfile
from pathlib import Path

from gfx.data import icons
from gfx.data.icons import ICON_SOURCES, IconRecord, IconSource, RawIcon, icon_id, load_icons, split_of
from gfx.data.npm import NpmPackage, sha512_integrity
from gfx.recipes.icon_corpus import NormalizedIcon, build_icons, encode_records, merge_duplicates

# ---------------------------------------------------------------- merging, encoding


def _candidate(source, name, svg, tags=(), category=None, listed=True):
    return NormalizedIcon(source, RawIcon(name, tuple(tags), category, f"<svg>{name}</svg>", listed), svg)


def test_merge_keeps_the_first_source_and_listed_name_and_unites_tags():
    order = ["tabler-outline", "lucide"]
    records = merge_duplicates(
        [
            _candidate("lucide", "alias-name", "S", ["x"], listed=False),
            _candidate("lucide", "circle-arrow", "S", ["y", "x"]),
            _candidate("lucide", "other", "T", ["z"]),
        ],
        order,
    )
    assert [(r.name, r.tags, r.original) for r in records] == [
        ("circle-arrow", ("y", "x", "alias name"), "<svg>circle-arrow</svg>"),
        ("other", ("z",), "<svg>other</svg>"),
    ]
    [merged] = merge_duplicates(
        [
            _candidate("lucide", "minus", "M", ["sub"]),
            _candidate("tabler-outline", "minus", "M", ["minus", "dash"], "Math"),
        ],
        order,
    )
    assert (merged.source, merged.name, merged.tags, merged.category) == (
        "tabler-outline",
        "minus",
        ("dash", "sub"),
        "Math",
    )
    assert (merged.id, merged.split) == (icon_id("M"), split_of("M"))
    [short] = merge_duplicates(
        [_candidate("mdi", "cards-heart", "H"), _candidate("mdi", "heart", "H")], ["mdi"]
    )
    assert (short.name, short.tags) == ("heart", ("cards heart",))


def test_encoding_is_deterministic_and_sorted():
    a = IconRecord("2", "mdi", "b", (), None, "train", "<svg/>", "")
    b = IconRecord("1", "mdi", "a", ("t",), "C", "val", "<svg/>", "")
    data = encode_records([a, b])
    assert data == encode_records([b, a])
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    lines = gzip.decompress(data).decode().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["a", "b"]
    assert (
        lines[0]
        == '{"category":"C","id":"1","name":"a","original":"","source":"mdi","split":"val","svg":"<svg/>","tags":["t"]}'
    )


# ---------------------------------------------------------------- the offline build


CIRCLE = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="8"/></svg>'
SQUARE = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M4 4h16v16H4z"/></svg>'


def _fake_lucide_tarball(path: Path) -> Path:
    files = {
        "package/package.json": json.dumps({"name": "fake-lucide", "version": "0.0.1", "license": "ISC"}),
        "package/LICENSE": "ISC License\n\nfake",
        "package/tags.json": json.dumps({"circle": ["round"], "square": ["box"]}),
        "package/icons/circle.svg": CIRCLE,
        "package/icons/circle-alias.svg": CIRCLE.replace("<svg ", "<svg class='alias' "),
        "package/icons/square.svg": SQUARE,
        "package/icons/broken.svg": "<svg><path d='M 0 0 L'",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_build_from_a_cached_tarball_writes_a_loadable_corpus(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    tarball = _fake_lucide_tarball(cache / "fake-lucide-0.0.1.tgz")
    package = NpmPackage("fake-lucide", "0.0.1", sha512_integrity(tarball))
    monkeypatch.setitem(ICON_SOURCES, "lucide", IconSource("lucide", package, "ISC", icons._read_lucide))
    calls = []
    out = tmp_path / "icons"
    manifest = build_icons(
        out, ["lucide"], cache_dir=cache, progress=lambda *a: calls.append(a), date=datetime.date(2024, 1, 2)
    )
    first = (out / "lucide.jsonl.gz").read_bytes()
    assert calls == [(1, 4, "lucide"), (2, 4, "lucide"), (3, 4, "lucide"), (4, 4, "lucide")]
    entry = manifest["sources"]["lucide"]
    assert (entry["files"], entry["skipped"], entry["merged"], entry["records"]) == (4, 1, 1, 2)
    assert json.loads((out / "manifest.json").read_text()) == manifest
    records = load_icons(root=out)
    assert [(r.name, r.tags) for r in records] == [
        ("circle", ("round", "circle alias")),
        ("square", ("box",)),
    ]
    assert records[0].original == CIRCLE
    assert (out / "LICENSES" / "lucide.txt").read_text() == "ISC License\n\nfake"
    assert "on 2024-01-02" in (out / "NOTICE.md").read_text()
    build_icons(out, ["lucide"], cache_dir=cache, date=datetime.date(2024, 1, 2))
    assert (out / "lucide.jsonl.gz").read_bytes() == first
    assert not list(out.glob(".*.tmp"))
