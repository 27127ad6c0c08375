"""The icon corpus: the committed files under assets/icons/, the package readers, merging and the offline build."""

import collections
import datetime
import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from gfx.data import icons
from gfx.data.icons import (
    ICON_SOURCES,
    ICONS_DIR,
    SPLITS,
    IconRecord,
    IconSource,
    RawIcon,
    build_icons,
    encode_records,
    icon_id,
    load_icons,
    merge_duplicates,
    read_manifest,
    split_of,
    words,
)
from gfx.data.npm import NpmPackage, sha512_integrity

# ---------------------------------------------------------------- the committed corpus


@pytest.fixture(scope="module")
def corpus() -> list[IconRecord]:
    return load_icons()


def test_every_registered_source_is_built_with_typed_records(corpus):
    assert set(read_manifest()["sources"]) == set(ICON_SOURCES)
    for name in ICON_SOURCES:
        records = load_icons(name)
        assert len(records) > 500, name
        for r in records[:50]:
            assert isinstance(r, IconRecord) and r.source == name
            assert isinstance(r.tags, tuple) and all(isinstance(t, str) and t == t.lower() for t in r.tags)
            assert r.category is None or isinstance(r.category, str)
            assert r.svg.startswith("<svg") and "<svg" in r.original
    assert {r.source for r in corpus} == set(ICON_SOURCES)


def test_manifest_pins_match_the_code_and_counts_match_the_files(corpus):
    manifest = read_manifest()
    by_source = collections.Counter((r.source, r.split) for r in corpus)
    for name, entry in manifest["sources"].items():
        package = ICON_SOURCES[name].package
        assert (entry["package"], entry["version"], entry["integrity"]) == (
            package.name,
            package.version,
            package.integrity,
        )
        assert entry["splits"] == {s: by_source[name, s] for s in SPLITS}
        assert entry["records"] == sum(entry["splits"].values())
        assert entry["files"] == entry["records"] + entry["skipped"] + entry["merged"]


def test_ids_and_svgs_are_unique_across_sources(corpus):
    assert len({r.id for r in corpus}) == len(corpus)
    assert len({r.svg for r in corpus}) == len(corpus)


def test_split_and_id_are_pure_functions_of_the_normalized_svg(corpus):
    for r in corpus:
        assert r.split == split_of(r.svg) and r.id == icon_id(r.svg), r.name


def test_splits_are_disjoint_and_roughly_90_5_5(corpus):
    ids = {s: {r.id for r in load_icons(split=s)} for s in SPLITS}
    assert sum(map(len, ids.values())) == len(corpus)
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    share = {s: len(ids[s]) / len(corpus) for s in SPLITS}
    assert 0.88 < share["train"] < 0.92 and 0.04 < share["val"] < 0.06 and 0.04 < share["test"] < 0.06, share
    assert {r.split for r in load_icons("mdi", "val")} == {"val"}


def test_split_of_follows_the_documented_rule():
    # sha256("a") starts with ca978112 -> 3398926610 % 100 = 10 -> train.
    assert split_of("a") == "train"
    buckets = {s: sum(split_of(str(i)) == s for i in range(20000)) / 20000 for s in SPLITS}
    assert abs(buckets["train"] - 0.90) < 0.01 and abs(buckets["val"] - 0.05) < 0.01


def _sample(corpus, every=25):
    return corpus[::every]


def test_every_svg_parses_and_is_already_normalized(corpus):
    from gfx.svg.normalize import normalize
    from gfx.svg.parse import parse_svg
    from gfx.svg.serialize import to_svg

    for r in _sample(corpus):
        document = parse_svg(r.svg)
        assert document.is_normalized and document.elements, r.name
        assert to_svg(normalize(document)) == r.svg, r.name


@pytest.mark.slow
def test_every_svg_of_the_whole_corpus_is_a_normalization_fixed_point(corpus):
    from gfx.svg.normalize import normalize
    from gfx.svg.parse import parse_svg
    from gfx.svg.serialize import to_svg

    assert [r.name for r in corpus if to_svg(normalize(parse_svg(r.svg))) != r.svg] == []


def test_tabler_outline_keeps_strokes_and_drops_the_invisible_frame():
    record = next(r for r in load_icons("tabler-outline") if r.name == "arrow-left-circle")
    assert 'd="M0 0h24v24H0z"' in record.original
    assert "M0 0h24v24H0z" not in record.svg
    assert "stroke" in record.svg
    assert record.category == "Arrows" and record.text.startswith("arrow left circle, ")


def test_lucide_aliases_are_merged_into_one_record():
    lucide = {r.name: r for r in load_icons("lucide")}
    # arrow-left-circle.svg is an alias file of circle-arrow-left.svg (same drawing, unlisted in tags.json).
    assert "arrow-left-circle" not in lucide
    assert "arrow left circle" in lucide["circle-arrow-left"].tags


def test_licences_notice_and_manifest_are_committed():
    expected = {"tabler-outline": "MIT License", "tabler-filled": "MIT License", "lucide": "ISC License"}
    for name in ICON_SOURCES:
        text = (ICONS_DIR / "LICENSES" / f"{name}.txt").read_text(encoding="utf-8")
        assert expected.get(name, "Apache 2.0") in text
    notice = (ICONS_DIR / "NOTICE.md").read_text(encoding="utf-8")
    for source in ICON_SOURCES.values():
        assert f"`{source.package.name}` | {source.package.version}" in notice
    assert "## What we changed" in notice


def test_unknown_names_fail_loudly_with_the_valid_ones():
    with pytest.raises(KeyError, match="valid sources: tabler-outline, tabler-filled, lucide, mdi"):
        load_icons("feather")
    with pytest.raises(ValueError, match="valid splits: train, val, test"):
        load_icons(split="dev")
    with pytest.raises(FileNotFoundError, match="gfx data build-icons"):
        load_icons(root=Path("/nonexistent"))


# ---------------------------------------------------------------- readers, merging, encoding


def test_words_and_text():
    assert words("arrow-left-circle") == "arrow left circle"
    record = IconRecord(
        "0", "mdi", "numeric-1-box", ("one", "numeric 1 box"), "Alpha / Numeric", "train", "", ""
    )
    assert record.text == "numeric 1 box, one, alpha / numeric"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_tabler_reader_takes_tags_and_category_from_icons_json(tmp_path):
    meta = {
        "a-b": {"name": "a-b", "category": "Text", "tags": ["Ab-Test", 911, None, "ab-test"], "styles": {}}
    }
    _write(tmp_path / "icons.json", json.dumps(meta))
    _write(tmp_path / "icons" / "outline" / "a-b.svg", "<svg>ab</svg>")
    _write(tmp_path / "icons" / "outline" / "zz.svg", "<svg/>")
    _write(tmp_path / "icons" / "filled" / "other.svg", "<svg/>")
    assert list(ICON_SOURCES["tabler-outline"].read(tmp_path)) == [
        RawIcon("a-b", ("ab-test", "911"), "Text", "<svg>ab</svg>", True),
        RawIcon("zz", (), None, "<svg/>", False),
    ]


def test_mdi_reader_splits_groups_into_category_and_tags(tmp_path):
    meta = [{"name": "abacus", "aliases": ["counting-frame"], "tags": ["Math", "Home Automation"]}]
    _write(tmp_path / "meta.json", json.dumps(meta))
    _write(tmp_path / "svg" / "abacus.svg", "<svg/>")
    [icon] = ICON_SOURCES["mdi"].read(tmp_path)
    assert icon == RawIcon("abacus", ("counting frame", "home automation"), "Math", "<svg/>", True)


def test_reader_refuses_a_changed_package_layout(tmp_path):
    _write(tmp_path / "tags.json", "{}")
    with pytest.raises(FileNotFoundError, match="package layout changed"):
        list(ICON_SOURCES["lucide"].read(tmp_path))


def _candidate(source, name, svg, tags=(), category=None, listed=True):
    return icons.NormalizedIcon(
        source, RawIcon(name, tuple(tags), category, f"<svg>{name}</svg>", listed), svg
    )


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
