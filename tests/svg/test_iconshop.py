"""IconShop: data transforms, a tiny pipeline trained a few steps, generation, editing, files."""

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from gfx.data.icons import load_icons
from gfx.recipes.iconshop_data import (
    AugmentConfig,
    IconBatches,
    fim_permute,
    keywords_of,
    sample_prompt,
    tokenize_records,
    translate,
)
from gfx.svg.core.document import Path as SVGPath
from gfx.svg.core.metrics import is_valid_svg
from gfx.svg.core.parse import parse_svg
from gfx.svg.iconshop import IconShop, IconShopConfig
from gfx.svg.tokenizers.vocab import BOS_ID, EOS_ID, MASK_ID, PAD_ID
from gfx.train import TrainConfig, train


@pytest.fixture(scope="module")
def records():
    return load_icons("lucide", split="train")[:64]


@pytest.fixture(scope="module")
def pipe(records):
    torch.manual_seed(0)
    pipe = IconShop.build(IconShopConfig.from_name("tiny"))
    samples = tokenize_records(records, pipe.tokenizer, pipe.config.max_tokens)
    train(pipe.model, IconBatches(samples, pipe.tokenizer, 8, AugmentConfig()),
          TrainConfig(steps=3, warmup_steps=1, eval_every=0, checkpoint_every=0))
    pipe.model.eval()
    return pipe


def test_translate_keeps_points_on_lattice_and_shape(pipe, records):
    tok = pipe.tokenizer
    [sample] = tokenize_records(records[:1], tok, 10_000)
    rng = np.random.default_rng(0)
    shifted = translate(sample.ids, tok, rng, max_shift=3)
    before, after = tok.point_xy(sample.ids), tok.point_xy(shifted)
    is_point = before[:, 0] >= 0
    offsets = np.unique(after[is_point] - before[is_point], axis=0)
    assert len(offsets) == 1 and np.abs(offsets).max() <= 3  # one rigid shift
    assert (shifted[~is_point] == sample.ids[~is_point]).all()
    assert tok.is_valid(shifted.tolist())


def test_fim_permute_splices_back(pipe, records):
    tok = pipe.tokenizer
    rng = np.random.default_rng(1)
    for sample in tokenize_records(records[:10], tok, 10_000):
        fim = fim_permute(sample.ids, tok, rng)
        if MASK_ID in fim.tolist():
            assert tok.fim_join(fim.tolist()) == sample.ids.tolist()


def test_prompts_are_keyword_subsets_or_empty(records):
    rng = np.random.default_rng(2)
    keywords = keywords_of(records[0])
    prompts = [sample_prompt(keywords, rng, empty_prob=0.3) for _ in range(200)]
    assert 20 < sum(p == "" for p in prompts) < 100
    for p in prompts:
        assert set(filter(None, p.split(", "))) <= set(keywords)


def test_batches_pad_and_mask_empty_prompts(pipe, records):
    samples = tokenize_records(records, pipe.tokenizer, pipe.config.max_tokens)
    batch = next(iter(IconBatches(samples, pipe.tokenizer, 8, AugmentConfig(empty_prompt_prob=1.0))))
    assert batch["tokens"].shape[0] == 8
    assert (batch["attention_mask"] == (batch["tokens"] != PAD_ID)).all()
    assert not batch["prefix_mask"].any()  # every prompt empty -> no condition


def test_generation_is_valid_nonempty_and_seeded(pipe):
    results = pipe("house, home", n=3, seed=0)
    assert len(results) == 3
    for r in results:
        assert r.document.elements and is_valid_svg(r.svg)
        assert all(isinstance(e, SVGPath) and e.points.shape[0] >= 2 for e in r.document.elements)
        assert pipe.tokenizer.is_valid(list(r.tokens))
    again = pipe("house, home", n=3, seed=0)
    assert [r.tokens for r in results] == [r.tokens for r in again]


def test_zero_length_segments_are_banned_except_dots(pipe):
    tok = pipe.tokenizer
    M, L, C = (tok.command_ids[c] for c in "MLC")
    p, q = tok.point_base + 5, tok.point_base + 9
    assert tok.zero_length_segment([1, 9, M, p, L]) == []  # "M p L p" is a dot ...
    assert tok.zero_length_segment([1, 9, M, p, L, p]) == [L, C]  # ... which must end its subpath
    assert tok.zero_length_segment([1, 9, M, p, L, q, L]) == [q]
    assert tok.zero_length_segment([1, 9, M, p, L, q, C, q, q]) == [q]
    assert tok.zero_length_segment([1, 9, M, p, L, q, C, q, p]) == []
    # sampled icons never hold one (a dot may still start a subpath)
    for r in pipe("", n=8, seed=2):
        ids = list(r.tokens)
        for i in range(3, len(ids)):
            assert ids[i] not in tok.zero_length_segment(ids[:i])


def test_a_partial_icon_with_zero_length_lines_is_still_completed(pipe):
    partial = '<svg viewBox="0 0 24 24"><path d="M4 4L10 4L10 4L10 10" stroke="black" fill="none"/></svg>'
    [result] = pipe.complete(partial, "box", seed=0)
    assert pipe.tokenizer.is_valid(list(result.tokens))


def test_empty_and_overlong_prompts(pipe, caplog):
    assert pipe("", n=1, seed=1)[0].document.elements
    with caplog.at_level(logging.WARNING):
        [result] = pipe(", ".join(f"word{i}" for i in range(100)), n=1, seed=1)
    assert result.document.elements
    assert "truncated" in caplog.text


def test_complete_keeps_the_partial_icon(pipe, stroke_icon):
    [result] = pipe.complete(stroke_icon, "house", seed=3)
    original = pipe._document_ids(stroke_icon)[:-1]
    assert list(result.tokens[: len(original)]) == original
    assert is_valid_svg(result.svg)


def test_edit_keeps_selected_paths(pipe, stroke_icon):
    ids = pipe._document_ids(stroke_icon)
    starts = [*pipe.tokenizer.element_starts(ids), len(ids) - 1]
    kept = ids[starts[0] : starts[1]]
    [result] = pipe.edit(stroke_icon, keep=[0], prompt="house", seed=4)
    assert list(result.tokens[1 : 1 + len(kept)]) == kept
    assert pipe.tokenizer.is_valid(list(result.tokens))
    with pytest.raises(ValueError, match="outside"):
        pipe.edit(stroke_icon, keep=[99])
    last = pipe.path_count(stroke_icon) - 1
    assert last == len(starts) - 2 > 0
    pipe.edit(stroke_icon, keep=[last], prompt="house", seed=4)  # the last path is an index edit keeps
    with pytest.raises(ValueError, match="outside"):
        pipe.edit(stroke_icon, keep=[last + 1])


def test_infill_replaces_a_middle_span(pipe, stroke_icon):
    ids = pipe._document_ids(stroke_icon)
    n_paths = len(pipe.tokenizer.element_starts(ids))
    assert n_paths >= 3
    [result] = pipe.infill(stroke_icon, 1, 2, "house", seed=5)
    assert pipe.tokenizer.is_valid(list(result.tokens))
    starts = pipe.tokenizer.element_starts(list(result.tokens))
    assert list(result.tokens[: starts[1]]) == ids[: pipe.tokenizer.element_starts(ids)[1]]


def test_interpolate_returns_each_step(pipe):
    results = pipe.interpolate("house", "cat", steps=3, seed=0)
    assert len(results) == 3 and all(r.document.elements for r in results)


def test_save_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "m", dtype=None)
    loaded = IconShop.from_pretrained(tmp_path / "m")
    assert loaded.config == pipe.config and loaded.tokenizer.vocab == pipe.tokenizer.vocab
    assert [r.tokens for r in loaded("cat", n=2, seed=7)] == [r.tokens for r in pipe("cat", n=2, seed=7)]
    with pytest.raises(FileNotFoundError, match="holds no IconShop pipeline .* `gfx train iconshop`"):
        IconShop.from_pretrained(tmp_path)


def test_cli_generate_writes_svg_and_png(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "m")
    result = subprocess.run([sys.executable, "-m", "gfx", "svg", "generate", "a house", "-n", "2", "--seed", "0",
                             "--style", "filled", "--model", str(tmp_path / "m"), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    written = result.stdout.split()
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["a-house-0.png", "a-house-0.svg", "a-house-1.png",
                                                            "a-house-1.svg"]
    svg = (tmp_path / "out" / "a-house-0.svg").read_text()
    assert is_valid_svg(svg) and "stroke=" not in svg


def test_batches_resume_mid_epoch_identically(pipe, records):
    samples = tokenize_records(records, pipe.tokenizer, pipe.config.max_tokens)
    data = IconBatches(samples, pipe.tokenizer, 8, AugmentConfig(), seed=3)
    full = list(data(1))
    resumed = list(data(1, start=2))
    assert len(resumed) == len(full) - 2
    for a, b in zip(full[2:], resumed, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_shipped_model_handles_prompts_never_seen_in_training():
    """Paraphrases and concepts absent from the corpus still give valid, non-empty icons."""
    from gfx.models import model_path

    shipped = IconShop.from_pretrained(model_path("iconshop"))
    corpus_text = " ".join(r.text for r in load_icons(split="train")).lower()
    prompts = ["a small cottage with a chimney", "quokka", "a spaceship landing on a moon", "überraschung"]
    assert not any(p in corpus_text for p in prompts[1:])  # unseen concepts (the first is a paraphrase)
    for i, prompt in enumerate(prompts):
        [result] = shipped(prompt, n=1, seed=i)
        assert result.document.elements and is_valid_svg(result.svg)


@pytest.fixture(scope="module")
def rag_pipe(records):
    from gfx.svg.icon_retrieval import IconIndex

    torch.manual_seed(0)
    index = IconIndex.build(records[:30], groups=range(30))
    return IconShop.build(IconShopConfig.from_name("tiny", references=2, max_reference_tokens=150), index)


def test_references_are_the_nearest_icons_that_fit(rag_pipe):
    query = rag_pipe.index.prompts[3]
    context = rag_pipe.references(query)
    [nearest] = rag_pipe.index.nearest(query, k=1)
    nearest_ids = rag_pipe.tokenizer.encode(parse_svg(rag_pipe.index.svgs[int(nearest)]))
    if len(nearest_ids) <= 150:  # the nearest fitting icon is the last one, right before the drawing
        assert context[-len(nearest_ids):] == nearest_ids
    assert context.count(BOS_ID) == 2 and context.count(EOS_ID) == 2
    without_own = rag_pipe.references(query, exclude_group=3)  # training: an icon never sees itself
    assert nearest == 3 and nearest_ids != without_own[-len(nearest_ids):]


def test_generation_with_references_decodes_only_the_new_icon(rag_pipe, tmp_path):
    results = rag_pipe("folder", n=2, seed=1)
    context = rag_pipe.references("folder")
    for r in results:
        assert is_valid_svg(r.svg) and r.info["references"] == len(context)
        assert r.tokens[0] == BOS_ID and r.tokens.count(BOS_ID) == 1
    rag_pipe.save_pretrained(tmp_path / "rag")
    loaded = IconShop.from_pretrained(tmp_path / "rag")
    assert loaded.index.svgs == rag_pipe.index.svgs
    assert [r.svg for r in loaded("folder", n=2, seed=1)] == [r.svg for r in results]


def test_a_reference_config_needs_an_index():
    with pytest.raises(ValueError, match="IconIndex"):
        IconShop.build(IconShopConfig.from_name("tiny", references=1))


def test_training_rows_read_references_but_predict_only_the_icon(rag_pipe, records):
    from gfx.recipes.iconshop_references import neighbour_table

    subset = records[:30]
    table = neighbour_table(rag_pipe.index, subset, k=4)
    assert not any(i in row for i, row in enumerate(table))  # an icon is never its own reference
    samples = tokenize_records(subset, rag_pipe.tokenizer, rag_pipe.config.max_tokens, table, max_reference_tokens=150)
    batches = IconBatches(samples, rag_pipe.tokenizer, 4, AugmentConfig(fim_prob=0.0, translate_prob=0.0),
                          references=2)
    batch = next(iter(batches))
    for row, loss_row in zip(batch["tokens"], batch["loss_mask"], strict=True):
        ids = row[row != PAD_ID].tolist()
        icon = ids[loss_row[: len(ids)].tolist().index(True):]
        assert icon[0] == BOS_ID and icon.count(BOS_ID) == 1 and icon[-1] == EOS_ID
        assert ids[: len(ids) - len(icon)].count(BOS_ID) == 2  # two references before it
    loss = rag_pipe.model.loss(batch)
    assert torch.isfinite(loss)


def test_batch_samples_one_icon_per_prompt_together(pipe, rag_pipe):
    results = pipe.batch(["house", "star", "house"], seed=0)
    assert [r.prompt for r in results] == ["house", "star", "house"]
    assert all(r.document.elements for r in results)
    with pytest.raises(ValueError, match="needs a model without retrieval references"):
        rag_pipe.batch(["house"], seed=0)


def test_reranking_keeps_the_candidates_the_reranker_scores_highest(pipe, tmp_path):
    from gfx.svg.icon_clip import IconCLIP, IconCLIPConfig

    torch.manual_seed(0)
    reranker = IconCLIP(IconCLIPConfig.from_name("tiny")).eval()
    ranked = IconShop(pipe.model, pipe.tokenizer, pipe.config.replace(candidates=4), reranker=reranker)
    pool = pipe("a house", n=8, seed=5)  # the same batch the reranked call samples from
    best = ranked("a house", n=2, seed=5)
    scores = reranker.score([r.svg for r in pool], ["a house"] * len(pool))
    assert [r.svg for r in best] == [pool[i].svg for i in np.argsort(-scores, kind="stable")[:2]]
    assert best[0].info["reranker_score"] >= best[1].info["reranker_score"] and best[0].info["candidates"] == 8
    plain = pipe("a house", n=2, seed=5)
    assert [r.svg for r in ranked("a house", n=2, seed=5, candidates=1)] == [r.svg for r in plain]
    assert [r.svg for r in ranked("", n=1, seed=5)] == [pipe("", n=1, seed=5)[0].svg]  # nothing to score against
    ranked.save_pretrained(tmp_path / "ranked", dtype=None)
    loaded = IconShop.from_pretrained(tmp_path / "ranked")
    assert loaded.config.candidates == 4 and [r.svg for r in loaded("a house", n=2, seed=5)] == [r.svg for r in best]
    with pytest.raises(ValueError, match="needs a pipeline with a reranker"):
        pipe("a house", candidates=2)
    with pytest.raises(ValueError, match="has no reranker"):
        IconShop(pipe.model, pipe.tokenizer, pipe.config.replace(candidates=2))


def test_consensus_prefers_the_drawing_the_candidates_agree_on():
    from gfx.svg.icon_clip import IconCLIP, IconCLIPConfig
    from gfx.svg.reranking import rerank_scores

    torch.manual_seed(0)
    reranker = IconCLIP(IconCLIPConfig.from_name("tiny")).eval()
    square = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M4 4h16v16H4z" fill="none" ' \
             'stroke="black" stroke-width="2"/></svg>'
    shifted = square.replace("M4 4h16v16H4z", "M5 4h15v16H5z")
    stray = square.replace("M4 4h16v16H4z", "M2 20l4-4")
    svgs = [square, shifted, stray, square]
    alone = rerank_scores(reranker, svgs, "a square")
    np.testing.assert_allclose(alone, reranker.score(svgs, ["a square"] * 4), atol=1e-5)
    agreed = rerank_scores(reranker, svgs, "a square", consensus=100.0)  # agreement decides
    assert agreed.argmin() == 2 and agreed[0] == agreed[3] > agreed[1]
