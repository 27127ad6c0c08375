"""`gfx eval roundtrip --set artwork`: both pipelines per image, refusals and crashes counted, the report's
shape and stated method (on hand-written SVGs; the real sets come from npm at evaluation time)."""

import pathlib

import pytest

from gfx.data import iconify
from gfx.data.iconify import Artwork
from gfx.recipes import roundtrip
from gfx.recipes.roundtrip import artwork_report, artwork_roundtrip, evaluate_roundtrip

FIXTURE = (pathlib.Path(__file__).parent / "svg" / "fixtures" / "gradients_clips_and_masks.svg").read_text()
REFUSED = '<svg xmlns="http://www.w3.org/2000/svg"><mask id="m"><use href="#r"/></mask><rect id="r" mask="url(#m)"/></svg>'


def test_one_image_through_both_pipelines():
    row = artwork_roundtrip(FIXTURE)
    assert row["normalize"] < 1e-4 and row["semantic"] < 1e-3 and row["tokens"] > 100
    refused = artwork_roundtrip(REFUSED)
    assert refused["normalize"].startswith("refused: <svg> has a reference cycle") and "tokens" not in refused


def test_the_report_counts_shares_refusals_and_crashes(monkeypatch):
    images = [Artwork("set/gradients", FIXTURE), Artwork("set/loop", REFUSED)]
    monkeypatch.setattr(iconify, "load_artwork", lambda name, count, seed: images)
    monkeypatch.setattr(roundtrip, "to_svg", lambda doc: 1 / 0)  # the normalize pipeline crashes
    report = artwork_report(count=2)
    assert report["size"] == 128 and report["background"] == "white" and "cairosvg" in report["method"]
    entry = report["sets"]["noto"]
    assert entry["images"] == 2 and entry["semantic"]["share_within_0.001"] == 0.5
    assert entry["semantic"]["refusals"] == ["set/loop: refused: <svg> has a reference cycle: an element that "
                                             "draws itself through <use>, clip-path or mask; remove it"]
    assert entry["normalize"]["share_within_0.01"] == 0 and len(entry["normalize"]["crashes"]) == 1
    assert entry["normalize"]["crashes"][0].startswith("set/gradients: crashed: ZeroDivisionError")


def test_an_unknown_set_is_refused():
    with pytest.raises(ValueError, match="unknown evaluation set 'colour'; valid: icons, artwork"):
        evaluate_roundtrip(set="colour")
