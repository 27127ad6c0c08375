"""Iconify JSON sets (the evaluation-only artwork): wrapping bodies into SVG files, the seeded sample (no network)."""

import json

import pytest

from gfx.data import iconify
from gfx.data.iconify import ARTWORK_SETS, iconify_svgs, load_artwork

ICONS = {
    "prefix": "x",
    "width": 128,
    "height": 128,
    "icons": {
        f"icon-{i:02d}": {"body": f'<circle cx="64" cy="64" r="{i + 1}"/>'} for i in range(20)
    } | {"wide": {"body": "<path d='M0 0h1'/>", "width": 256, "left": -8}, "old": {"body": "<g/>", "hidden": True}},
    "aliases": {"alias": {"parent": "wide"}},
}


def test_bodies_become_standalone_svg_with_the_icon_or_set_box():
    svgs = iconify_svgs(ICONS)
    assert list(svgs) == sorted(svgs) and "old" not in svgs and "alias" not in svgs
    assert svgs["wide"] == (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        "viewBox=\"-8 0 256 128\"><path d='M0 0h1'/></svg>"
    )
    assert 'viewBox="0 0 16 16"' in iconify_svgs({"icons": {"a": {"body": ""}}})["a"]  # Iconify's defaults


def test_the_sample_is_seeded_sorted_and_fetched_once(tmp_path, monkeypatch):
    (tmp_path / "icons.json").write_text(json.dumps(ICONS))
    fetched = []
    monkeypatch.setattr(iconify, "fetch_package", lambda package, cache: fetched.append(package) or tmp_path)
    first = load_artwork("noto", count=5, seed=3)
    assert [a.name for a in first] == sorted(a.name for a in first) and len(first) == 5
    assert all(a.name.startswith("noto/") and a.svg.startswith("<svg") for a in first)
    assert load_artwork("noto", count=5, seed=3) == first
    assert load_artwork("noto", count=5, seed=4) != first
    assert len(load_artwork("noto", count=0)) == 21  # every visible icon
    assert fetched[0] is ARTWORK_SETS["noto"].package
    with pytest.raises(KeyError, match="valid sets: noto, devicon"):
        load_artwork("twemoji")
