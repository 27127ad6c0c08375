"""Generalization protocols for text -> icon: held-out concepts never reach training, and the shape rank scores
the right concept first."""

import numpy as np
import pytest

from gfx.data.icons import IconRecord
from gfx.recipes.icon_protocols import (
    HELD_OUT_PERCENT,
    ProtocolSet,
    concept_bucket,
    held_out_concepts,
    protocol_set,
    rank_scores,
    training_records,
)
from gfx.svg.core.metrics import InkChamfer

SQUARE = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M4 4H20V20H4Z"/></svg>'
BAR = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M2 11H22V13H2Z"/></svg>'
DOT = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M11 11H13V13H11Z"/></svg>'


def record(source, name, split="train", tags=(), svg=SQUARE):
    return IconRecord(f"{source}-{name}", source, name, tuple(tags), None, split, svg, svg)


def test_held_out_concepts_leave_training_from_every_source():
    names = [f"thing-{i}" for i in range(60)]
    records = [record(s, n) for n in names for s in ("tabler-outline", "lucide")]
    held = held_out_concepts(records)
    assert 5 < len(held) < 55
    records += [record("mdi", held[0]), record("mdi", "other-name", tags=(held[1].replace("-", " "),))]
    kept = {(r.source, r.name) for r in training_records(records)}
    assert not any(name in held for _, name in kept)
    assert ("mdi", "other-name") not in kept
    assert {n for _, n in kept} == set(names) - set(held)


def test_icon_models_and_their_reranker_train_on_the_same_protocol_splits():
    from gfx.recipes import get_recipe
    from gfx.recipes.icon_clip import splits as clip_splits
    from gfx.recipes.icon_protocols import protocol_splits
    from gfx.recipes.iconshop import splits as iconshop_splits

    train, val = protocol_splits("concept-disjoint")
    held = set(held_out_concepts())
    assert train and val and not {r.name for r in train + val} & held
    assert {r.split for r in train} == {"train"} and {r.split for r in val} == {"val"}
    for recipe, splits in (("iconshop", iconshop_splits), ("icon-clip", clip_splits)):
        config = get_recipe(recipe).config_class(protocol="concept-disjoint")
        assert [[r.id for r in part] for part in splits(config)] == [[r.id for r in part] for part in (train, val)]
    with pytest.raises(ValueError, match="unknown training protocol 'unseen-source'; valid: concept-disjoint"):
        protocol_splits("unseen-source")


def test_cross_designer_prompts_reference_the_unseen_drawing():
    name = next(f"cup-{i}" for i in range(100) if concept_bucket(f"cup-{i}") >= HELD_OUT_PERCENT)
    records = [record("tabler-outline", name, "train"), record("lucide", name, "test", svg=BAR)]
    records += [record(s, f"thing-{i}") for i in range(40) for s in ("tabler-outline", "lucide")]
    pset = protocol_set("cross-designer", records)
    k = pset.concepts.index(name)
    assert pset.prompts[k] == name.replace("-", " ")
    assert pset.references[list(pset.reference_concept).index(k)] == BAR
    assert all(c.startswith("cup") for c in pset.concepts)  # concepts seen by both designers are not asked


def test_rank_scores_put_the_true_concept_first():
    from gfx.recipes.icon_protocols import ink_masks

    masks = ink_masks([SQUARE, BAR, DOT])
    pset = ProtocolSet("t", ["square", "bar", "dot"], ["square", "bar", "dot"], [SQUARE, BAR, DOT],
                       np.arange(3))
    perfect = rank_scores(pset, InkChamfer(masks), masks, np.arange(3))
    assert perfect == {"top1": 1.0, "top5": 1.0, "mean_distance": 0.0}
    shuffled = rank_scores(pset, InkChamfer(masks), masks[[1, 2, 0]], np.arange(3))
    assert shuffled["top1"] == 0.0 and shuffled["mean_distance"] > 1.0


def test_mean_pairwise_chamfer_averages_each_drawing_over_the_others():
    from gfx.recipes.icon_protocols import ink_masks
    from gfx.svg.core.metrics import mean_pairwise_chamfer

    masks = ink_masks([SQUARE, BAR, DOT, SQUARE])
    pairs = InkChamfer(masks)
    expected = [np.mean([pairs(masks[i])[j] for j in range(4) if j != i]) for i in range(4)]
    np.testing.assert_allclose(mean_pairwise_chamfer(masks), expected, rtol=1e-6)


def test_the_demo_sheet_holds_out_what_it_says():
    from gfx.apps.demo import HELD_OUT_PROMPTS, SEEN_PROMPTS

    held = {c.replace("-", " ") for c in held_out_concepts()}
    assert set(HELD_OUT_PROMPTS) <= held and not set(SEEN_PROMPTS) & held


def test_unseen_source_split_keeps_the_held_out_source_out_of_training_and_is_deterministic():
    from gfx.recipes.icon_protocols import unseen_source_split

    records = [record(s, f"thing-{i}", split) for i in range(5) for s in ("tabler-outline", "lucide", "mdi")
               for split in ("train", "val", "test")]
    held = unseen_source_split("lucide", records)
    assert {r.source for r in held.train + held.val} == {"tabler-outline", "mdi"}
    assert {(r.source, r.split) for r in held.test} == {("lucide", "test")}
    assert {r.split for r in held.train} == {"train"} and {r.split for r in held.val} == {"val"}
    assert len(held.train) == len(held.val) == len(held.test) * 2 == 10
    assert unseen_source_split("lucide", records[::-1]).train == held.train[::-1]  # the corpus order, no shuffle
    assert len(unseen_source_split("lucide", records, split=None).test) == 15
    with pytest.raises(KeyError, match="unknown held-out icon source 'feather'; valid sources: lucide, mdi"):
        unseen_source_split("feather", records)


def test_unseen_source_split_of_the_corpus_holds_out_every_lucide_icon():
    from gfx.data.icons import load_icons
    from gfx.recipes.icon_protocols import unseen_source_split

    held = unseen_source_split()
    lucide = {r.id for r in load_icons(source="lucide")}
    assert held.source == "lucide" and held.test and held.train and held.val
    assert not lucide & {r.id for r in held.train + held.val}
    assert not {r.svg for r in held.test} & {r.svg for r in held.train + held.val}  # no drawing under another name
    assert {r.id for r in held.test} == {r.id for r in load_icons(source="lucide", split="test")}
    assert [r.id for r in unseen_source_split().train] == [r.id for r in held.train]


def test_saw_source_follows_train_json_and_its_warm_starts(tmp_path):
    import json

    from gfx.models import MODELS_DIR
    from gfx.recipes.icon_protocols import saw_source

    def model(name, **schedule):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.json").write_text(json.dumps(schedule))
        return tmp_path / name

    honest = model("honest", protocol="unseen-source", source="lucide")
    assert saw_source(honest, "lucide") is False
    assert saw_source(honest, "mdi") is True  # it held out another source
    assert saw_source(model("warm", protocol="unseen-source", source="lucide", init_from=str(honest))) is False
    shipped = MODELS_DIR / "starvector-mini"
    assert saw_source(model("leaky", protocol="unseen-source", source="lucide", init_from=str(shipped))) is True
    assert saw_source(shipped) is True
    assert saw_source(tmp_path / "nothing") is None


def test_score_samples_reports_the_outline_style_rate(tmp_path, monkeypatch):
    from gfx.recipes import icon_protocols
    from gfx.recipes.icon_protocols import score_samples

    monkeypatch.setattr(icon_protocols, "CACHE_DIR", tmp_path)
    outline = SQUARE.replace("<path ", '<path fill="none" stroke="black" stroke-width="2" ')
    pset = ProtocolSet("t", ["square", "bar", "dot"], ["square", "bar", "dot"], [SQUARE, BAR, DOT], np.arange(3))
    samplers = {"filled": lambda prompt, seed: SQUARE, "outline": lambda prompt, seed: outline,
                "mixed": lambda prompt, seed: outline if prompt == "bar" else SQUARE}
    table = score_samples(pset, samplers, [0, 1], [BAR], near_copy_threshold=0.5)["methods"]
    assert [table[k]["outline_style_rate"] for k in samplers] == [0.0, 1.0, pytest.approx(1 / 3)]
    assert table["filled"]["top1_mean"] == pytest.approx(1 / 3)


def test_validation_rows_are_the_concepts_an_evaluation_does_not_prompt():
    from gfx.recipes.icon_protocols import prompted_rows, validation_rows

    prompted = prompted_rows(230, 50).tolist()
    val = validation_rows(230, 50)
    assert len(val) == 180 and not set(val) & set(prompted) and sorted(val + prompted) == list(range(230))
    assert validation_rows(230, 0) == []  # an evaluation of every concept leaves none
