"""The icon corpus: the committed files under assets/icons/, the package readers, names and words."""

import collections
import json
from pathlib import Path

import pytest

from gfx.data.icons import (
    ICON_SOURCES,
    ICONS_DIR,
    SPLITS,
    IconRecord,
    RawIcon,
    icon_id,
    load_icons,
    read_manifest,
    split_of,
    words,
)

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
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.serialize import to_svg

    for r in _sample(corpus):
        document = parse_svg(r.svg)
        assert document.is_normalized and document.elements, r.name
        assert to_svg(normalize(document)) == r.svg, r.name


@pytest.mark.slow
def test_every_svg_of_the_whole_corpus_is_a_normalization_fixed_point(corpus):
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.serialize import to_svg

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


# ---------------------------------------------------------------- readers, names


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
