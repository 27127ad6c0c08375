"""Generalization protocols of the icon models: prompts (text -> icon) and designers (image -> SVG) training
never saw.

- **concept-disjoint**: the held-out concepts are icon names drawn by both stroke designers (Tabler outline and
  Lucide) whose name hash falls in the first `HELD_OUT_PERCENT` buckets. Every icon of a held-out concept leaves
  training, from every source: an icon named like the concept, or carrying the concept's words as a tag (the
  name of a merged duplicate). The prompt is the concept's words ("arrow up right"); the references are both
  designers' icons of it.
- **cross-designer**: concepts that are not held out, drawn by both designers, where one designer's icon is in
  the training split and the other's is not. The prompt is the name's words; the reference is the unseen icon.
- **unseen-source** (image -> SVG): train on every icon source but one (`HELD_OUT_SOURCE` by default), on their
  train / val splits; evaluate on the held-out source's test icons (`unseen_source_split`). Every icon of the
  held-out source leaves training, whatever its split. The corpus keeps an icon two sources ship identically once,
  under the first (`gfx.data.icons.ICON_SOURCES` order), so no evaluated icon is also a training icon.

Scoring of the text -> icon protocols (`score_samples`): every sample and every reference is rendered at
`RASTER` px; the distance between two icons is the symmetric mean chamfer distance between their ink pixels
(`InkChamfer`). A concept's distance to a sample is that of its nearest reference; the rank of the prompted
concept among all concepts of the set gives top-1 / top-5 accuracy, and the mean distance to the prompted
concept is reported beside them. A sample is a near-copy when its distance to the nearest training icon is under
a threshold calibrated on the two designers' drawings of the concepts they share (`calibrate_near_copy`): closer
than `NEAR_COPY_PERCENTILE`% of those pairs. The outline-style rate is the share of samples drawn in the stroke
designers' style: strokes of their width and no fills (`gfx.svg.icon_style.is_outline`).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gfx.data.icons import IconRecord, load_icons, words
from gfx.data.subset import evenly_spaced
from gfx.files import write_bytes
from gfx.paths import cache_dir
from gfx.svg.core.metrics import InkChamfer, ink_mask
from gfx.svg.core.render import render
from gfx.svg.icon_style import is_outline

log = logging.getLogger(__name__)

PROTOCOLS = ("concept-disjoint", "cross-designer")
"""The text -> icon protocols (`protocol_set`)."""
UNSEEN_SOURCE = "unseen-source"
"""The image -> SVG protocol (`unseen_source_split`)."""
HELD_OUT_SOURCE = "lucide"
"""The source the unseen-source protocol holds out by default: a stroke-icon designer not otherwise in training."""
DESIGNERS = ("tabler-outline", "lucide")
HELD_OUT_PERCENT = 35
"""Share of the concepts both designers draw that the concept-disjoint protocol holds out (about 220 of 625)."""
RASTER = 64
NEAR_COPY_PERCENTILE = 10.0
SEED_STRIDE = 100_003
"""Sampler seed of concept k under seed s: s * SEED_STRIDE + k (`score_samples`)."""
CACHE_DIR = cache_dir("icon-protocols")
"""Ink masks of the training icons (gitignored, rebuilt on demand)."""

Sampler = Callable[[str, int], str]
"""sampler(prompt, seed) -> SVG text."""


def concept_bucket(name: str) -> int:
    return int(hashlib.sha256(f"concept:{name}".encode()).hexdigest()[:8], 16) % 100


def shared_concepts(records: Sequence[IconRecord]) -> list[str]:
    """Names drawn by both designers, sorted."""
    by_source = {s: {r.name for r in records if r.source == s} for s in DESIGNERS}
    return sorted(by_source[DESIGNERS[0]] & by_source[DESIGNERS[1]])


def held_out_concepts(records: Sequence[IconRecord] | None = None) -> list[str]:
    """The concept-disjoint protocol's concepts (names), sorted."""
    records = load_icons() if records is None else records
    return [c for c in shared_concepts(records) if concept_bucket(c) < HELD_OUT_PERCENT]


def is_of_concept(record: IconRecord, concepts: set[str], concept_words: set[str]) -> bool:
    """True when `record` draws one of `concepts`: by its name, or by a merged duplicate's name in its tags."""
    return record.name in concepts or any(tag in concept_words for tag in record.tags)


def without_held_out(records: Sequence[IconRecord], *splits: str) -> list[list[IconRecord]]:
    """Per split named, its records without any icon of a held-out concept (`is_of_concept`)."""
    concepts = set(held_out_concepts(records))
    concept_words = {words(c) for c in concepts}
    return [[r for r in records if r.split == split and not is_of_concept(r, concepts, concept_words)]
            for split in splits]


def training_records(records: Sequence[IconRecord] | None = None) -> list[IconRecord]:
    """The train split without any icon of a held-out concept: what a protocol-honest model trains on."""
    [train] = without_held_out(load_icons() if records is None else records, "train")
    return train


def protocol_splits(protocol: str | None = None) -> tuple[list[IconRecord], list[IconRecord]]:
    """The (train, val) records a text -> icon model (or its evaluator) trains on: the corpus splits, or under
    "concept-disjoint" the same without any icon of a held-out concept."""
    if protocol is None:
        return load_icons(split="train"), load_icons(split="val")
    if protocol != "concept-disjoint":
        raise ValueError(f"unknown training protocol {protocol!r}; valid: concept-disjoint")
    train, val = without_held_out(load_icons(), "train", "val")
    return train, val


@dataclass(frozen=True)
class SourceSplit:
    """The unseen-source protocol's icons.

    Attributes:
        source: the held-out source.
        train, val: every other source's icons of the corpus train / val splits.
        test: the held-out source's icons of the evaluated split (the test split by default).
    """

    source: str
    train: list[IconRecord]
    val: list[IconRecord]
    test: list[IconRecord]


def unseen_source_split(source: str = HELD_OUT_SOURCE, records: Sequence[IconRecord] | None = None,
                        split: str | None = "test") -> SourceSplit:
    """Hold out `source`: train / val on the other sources, evaluate on `source`'s icons of `split` (None: all).
    Deterministic: the corpus splits are content hashes and the records keep the corpus order."""
    records = load_icons() if records is None else records
    sources = sorted({r.source for r in records})
    if source not in sources:
        raise KeyError(f"unknown held-out icon source {source!r}; valid sources: {', '.join(sources)}")
    others = [r for r in records if r.source != source]
    return SourceSplit(source, [r for r in others if r.split == "train"], [r for r in others if r.split == "val"],
                       [r for r in records if r.source == source and (split is None or r.split == split)])


def saw_source(model_dir, source: str = HELD_OUT_SOURCE) -> bool | None:
    """Whether the model saved in `model_dir` trained on `source`'s icons, by its `train.json`: False when it, and
    every model it was warm-started from, trained under the unseen-source protocol holding `source` out; None when
    a train.json on that chain is missing (or the chain loops)."""
    import json
    from pathlib import Path

    from gfx.models import MODELS_DIR
    from gfx.recipes.run import TRAIN_CONFIG_NAME

    path, seen = Path(model_dir), set()
    while (path / TRAIN_CONFIG_NAME).is_file() and path.resolve() not in seen:
        seen.add(path.resolve())
        schedule = json.loads((path / TRAIN_CONFIG_NAME).read_text())
        if schedule.get("protocol") != UNSEEN_SOURCE or schedule.get("source") != source:
            return True
        if not schedule.get("init_from"):
            return False
        path = Path(schedule["init_from"])
        path = path if path.is_dir() else MODELS_DIR.parent / path
    return None


@dataclass(frozen=True)
class ProtocolSet:
    """The prompts of one protocol and the references they are ranked against.

    Attributes:
        name: "concept-disjoint" or "cross-designer".
        prompts: one prompt per concept; concept k is `concepts[k]`.
        concepts: the concept names.
        references: SVG texts; reference j draws concept `reference_concept[j]` (an index into `concepts`).
        reference_concept: (R,) int64.
    """

    name: str
    prompts: list[str]
    concepts: list[str]
    references: list[str]
    reference_concept: np.ndarray


def protocol_set(name: str, records: Sequence[IconRecord] | None = None) -> ProtocolSet:
    """Build the `name` protocol's prompts and references from the corpus."""
    records = load_icons() if records is None else records
    icon = {(r.source, r.name): r for r in records if r.source in DESIGNERS}
    held_out = set(held_out_concepts(records))
    if name == "concept-disjoint":
        concepts = sorted(held_out)
        pairs = [(k, icon[s, c].svg) for k, c in enumerate(concepts) for s in DESIGNERS]
    elif name == "cross-designer":
        concepts, pairs = [], []
        for c in shared_concepts(records):
            seen = [icon[s, c].split == "train" for s in DESIGNERS]
            if c in held_out or seen[0] == seen[1]:
                continue
            unseen = DESIGNERS[seen.index(False)]
            pairs.append((len(concepts), icon[unseen, c].svg))
            concepts.append(c)
    else:
        raise KeyError(f"unknown protocol {name!r}; valid names: {', '.join(PROTOCOLS)}")
    return ProtocolSet(name, [words(c) for c in concepts], concepts, [svg for _, svg in pairs],
                       np.array([k for k, _ in pairs], dtype=np.int64))


def ink_masks(svgs: Sequence[str], size: int = RASTER, cache: bool = False) -> np.ndarray:
    """(N, size, size) bool ink of each SVG rendered on white; with `cache`, kept under `CACHE_DIR` by content."""
    if not svgs:
        return np.zeros((0, size, size), bool)
    path = CACHE_DIR / f"ink-{size}-{hashlib.sha256(chr(0).join(svgs).encode()).hexdigest()[:16]}.npy"
    if cache and path.is_file():
        return np.unpackbits(np.load(path), axis=1, count=size * size).reshape(-1, size, size).astype(bool)
    masks = np.stack([ink_mask(render(s, size)) for s in svgs])
    if cache:
        buffer = io.BytesIO()
        np.save(buffer, np.packbits(masks.reshape(len(masks), -1), axis=1))
        write_bytes(path, buffer.getvalue())
    return masks


def calibrate_near_copy(records: Sequence[IconRecord]) -> float:
    """The near-copy threshold in pixels: the `NEAR_COPY_PERCENTILE` percentile of the distance between the two
    designers' drawings of each concept they share. A sample closer than that to a training icon is nearer to it
    than nine in ten second designers' drawings of a concept are to the first's."""
    icon = {(r.source, r.name): r for r in records}
    concepts = shared_concepts(records)
    first, second = (ink_masks([icon[s, c].svg for c in concepts]) for s in DESIGNERS)
    pairs = InkChamfer(second)
    return float(np.percentile([pairs(m)[i] for i, m in enumerate(first)], NEAR_COPY_PERCENTILE))


def rank_scores(protocol: ProtocolSet, references: InkChamfer, masks: np.ndarray, concept_of: np.ndarray) -> dict:
    """Top-1 / top-5 accuracy and mean distance of samples (`masks`, each for concept `concept_of[i]`)."""
    n_concepts = len(protocol.concepts)
    top1, top5, distance = [], [], []
    for mask, k in zip(masks, concept_of, strict=True):
        to_refs = references(mask)
        per_concept = np.full(n_concepts, np.inf, np.float32)
        np.minimum.at(per_concept, protocol.reference_concept, to_refs)
        rank = int((per_concept < per_concept[k]).sum())
        top1.append(rank < 1)
        top5.append(rank < 5)
        distance.append(float(per_concept[k]))
    return {"top1": float(np.mean(top1)), "top5": float(np.mean(top5)), "mean_distance": float(np.mean(distance))}


def score_samples(
    protocol: ProtocolSet,
    samplers: dict[str, Sampler],
    seeds: Sequence[int],
    train_svgs: Sequence[str],
    near_copy_threshold: float,
    rows: Sequence[int] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """The protocol table: per sampler, top-1 / top-5 / mean distance as mean and spread over `seeds`, and the
    near-copy and outline-style rates over all its samples.

    Args:
        samplers: name -> sampler(prompt, seed) (the model, "retrieval", "random").
        train_svgs: the icons the model trained on (near-copy reference).
        near_copy_threshold: distance in pixels under which a sample copies a training icon (`calibrate_near_copy`).
        rows: the concepts to prompt (default all); samples are still ranked against every concept.
    """
    references = InkChamfer(ink_masks(protocol.references))
    train = InkChamfer(ink_masks(train_svgs, cache=True))
    table = {}
    concept_of = np.arange(len(protocol.prompts)) if rows is None else np.asarray(rows, dtype=np.int64)
    for name, sampler in samplers.items():
        runs, copies, outline = [], [], []
        for s in seeds:
            svgs = []
            for i, k in enumerate(concept_of):
                svgs.append(sampler(protocol.prompts[k], s * SEED_STRIDE + int(k)))
                if progress:
                    progress(i + 1, len(concept_of), f"{name}, seed {s}")
            masks = ink_masks(svgs)
            runs.append(rank_scores(protocol, references, masks, concept_of))
            copies += [float(train(m).min()) < near_copy_threshold for m in masks]
            outline += [is_outline(svg) for svg in svgs]
        table[name] = {
            **{f"{k}_mean": float(np.mean([r[k] for r in runs])) for k in runs[0]},
            **{f"{k}_std": float(np.std([r[k] for r in runs])) for k in runs[0]},
            "near_copy_rate": float(np.mean(copies)),
            "outline_style_rate": float(np.mean(outline)),
        }
    return {"protocol": protocol.name, "prompts": len(concept_of), "concepts": len(protocol.concepts), "references": len(protocol.references),
            "seeds": list(seeds), "near_copy_threshold_px": near_copy_threshold, "raster": RASTER, "methods": table}


def baseline_samplers(train: Sequence[IconRecord]) -> dict[str, Sampler]:
    """"retrieval" (the training icon whose prompt has the nearest MiniLM embedding, `IconIndex`) and "random"
    (a seeded random training icon)."""
    from gfx.svg.icon_retrieval import IconIndex

    index = IconIndex.build(train)

    def retrieval(prompt: str, seed: int) -> str:
        return index.svgs[int(index.nearest(prompt)[0])]

    def random(prompt: str, seed: int) -> str:
        return train[int(np.random.default_rng(seed).integers(len(train)))].svg

    return {"retrieval": retrieval, "random": random}


def prompted_rows(count: int, limit: int = 0) -> np.ndarray:
    """(L,) int64: the concepts of a `count`-concept protocol that a run with `limit` prompts (evenly spaced; 0 = all)
    prompts; the other concepts are the validation concepts decoding settings are chosen on."""
    return evenly_spaced(np.arange(count), limit)


def validation_rows(count: int, limit: int) -> list[int]:
    """The validation concepts of a `count`-concept protocol: those a run with `limit` prompts does not prompt."""
    prompted = set(prompted_rows(count, limit).tolist())
    return [k for k in range(count) if k not in prompted]


def evaluate_generalization(protocol: str, pipe=None, seeds: Sequence[int] = (0, 1, 2), limit: int = 0,
                            progress=None, style: str | None = "outline",
                            others: dict[str, Sampler] | None = None, candidates: int | None = None,
                            consensus: float | None = None) -> dict:
    """The `protocol` table for an `IconShop` pipeline beside the retrieval and random baselines.

    Args:
        pipe: the model (None: only the baselines).
        others: more name -> sampler rows (other models), first in the table.
        limit: prompt this many concepts, evenly spaced (0 = all); ranks are always over every concept.
        style: the model's drawing style (`IconShop.__call__`; None: unconstrained).
        candidates: samples per icon the pipeline's reranker picks from (None: the pipeline's default).
        consensus: the weight of the samples' agreement in reranking (None: the pipeline's default).
    """
    records = load_icons()
    pset = protocol_set(protocol, records)
    train = training_records(records)
    rows = prompted_rows(len(pset.prompts), limit)
    samplers = dict(others or {})
    if pipe is not None:
        candidates = pipe.config.candidates if candidates is None else candidates
        consensus = pipe.config.consensus if consensus is None else consensus
        samplers["iconshop"] = lambda prompt, seed: pipe(prompt, n=1, seed=seed, style=style, candidates=candidates,
                                                         consensus=consensus)[0].svg
    samplers.update(baseline_samplers(train))
    report = score_samples(pset, samplers, seeds, [r.svg for r in train], calibrate_near_copy(records), rows=rows,
                           progress=progress)
    return {**report, "style": style, "candidates": None if pipe is None else candidates,
            "consensus": None if pipe is None else consensus}
