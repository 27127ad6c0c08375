"""Generalization protocols for text -> icon: held-out concepts never reach training, and the shape rank scores
the right concept first."""

import numpy as np

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


def test_the_demo_sheet_holds_out_what_it_says():
    from gfx.apps.demo import HELD_OUT_PROMPTS, SEEN_PROMPTS

    held = {c.replace("-", " ") for c in held_out_concepts()}
    assert set(HELD_OUT_PROMPTS) <= held and not set(SEEN_PROMPTS) & held
