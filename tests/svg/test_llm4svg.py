"""LLM4SVG on a tiny random transformers causal LM: the semantic tokens are added with description-mean embeddings,
every drawing and edit is a valid SVG (grammar-constrained), describing writes text only, candidate scores equal an
uncached forward, a saved pipeline loads back identical, and bad input fails with a short message."""

import copy

import pytest
import torch

from gfx.svg.core.document import Path, SVGError
from gfx.svg.core.metrics import is_valid_svg
from gfx.svg.tokenizers.vocab import POINT_ARITY
from tests.conftest import FILLED_ICON, STROKE_ICON, save_tiny_causal_lm

pytest.importorskip("transformers")

from gfx.svg.llm4svg import LLM4SVG, LLM4SVGConfig, token_name  # noqa: E402

TEXTS = ["Describe this SVG:\nAnswer: Arrows: arrow up.", "Draw this description: house\nSVG:",
         "Edit this SVG: make it red\nSVG:", "number 12.5 colour channel 128 of 255 path element cubic Bezier"]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("lm")
    save_tiny_causal_lm(directory, TEXTS)
    return directory


@pytest.fixture(scope="module")
def pipe(lm_dir):
    return LLM4SVG.from_pretrained(lm_dir)


def test_semantic_tokens_start_at_the_mean_embedding_of_their_description(lm_dir, pipe):
    from gfx.backbones.language import CausalLM

    base = CausalLM.from_pretrained(lm_dir)
    text_vocab = len(base.tokenizer)
    assert min(pipe.token_ids) >= text_vocab and len(set(pipe.token_ids)) == pipe.tokenizer.vocab_size
    embed = pipe.lm.model.get_input_embeddings().weight
    original = base.model.get_input_embeddings().weight
    torch.testing.assert_close(embed[:text_vocab], original)  # the LM's own tokens are untouched
    for token in ("<path>", "C", "<12.5>", "<#80>", "fill="):
        ids = base.tokenizer(pipe.tokenizer.descriptions[token], add_special_tokens=False)["input_ids"]
        new = pipe.token_ids[pipe.tokenizer.token_ids([token])[0]]
        torch.testing.assert_close(embed[new], original[ids].mean(0))
    assert pipe.lm.tokenizer.convert_ids_to_tokens(pipe.token_ids[5]) == token_name(pipe.tokenizer.vocab[5])


def test_drawings_and_edits_of_a_random_model_are_always_valid(pipe):
    results = pipe("a house", n=3, seed=0, temperature=1.0, top_p=1.0)
    results += pipe.edit(STROKE_ICON, "mirror it horizontally", n=2, seed=1, temperature=1.0, top_p=1.0)
    for result in results:
        assert is_valid_svg(result.svg) and result.document.elements
        body = list(result.tokens)
        if body[-1] != pipe.tokenizer.eos_id:  # ran out of budget: the complete elements were kept
            assert result.info["finished"] is False
        else:
            assert pipe.tokenizer.is_valid(body)  # the grammar's language exactly


def test_zero_length_segments_are_banned_except_dots(pipe):
    tok = pipe.tokenizer
    M, L, C = (tok.command_ids[c] for c in "MLC")
    x, y, z = (tok.number_ids([v])[0] for v in (3.0, 12.0, 20.0))
    path = [tok.bos_id, tok.element_ids["path"], tok.attr_ids["d"]]
    assert tok.zero_length_segment([*path, M, x, y, L, x]) == []  # "M x y L x y" is a dot ...
    assert tok.zero_length_segment([*path, M, x, y, L, x, y]) == [L, C]  # ... which must end its subpath
    assert tok.zero_length_segment([*path, M, x, y, C, x, y, x, y, x, y]) == [L, C]
    assert tok.zero_length_segment([*path, M, x, y, L, z, y]) == []
    assert tok.zero_length_segment([*path, M, x, y, L, z, y, L, z]) == [y]
    assert tok.zero_length_segment([*path, M, x, y, L, z, y, C, z, y, z, y, z]) == [y]
    assert tok.zero_length_segment([*path, M, x, y, L, z, y, C, z, y, z, x, z]) == []  # a loop has a length
    assert tok.zero_length_segment([*path, M, x, y, L, z, y, L, x]) == []


def zero_length_segments(document) -> int:
    """Path segments of a document that end where they start, but for a subpath that is one dot."""
    count = 0
    for element in document.elements:
        if not isinstance(element, Path):
            continue
        points, k, segments = element.points, 0, []
        for command in element.commands + "M":  # the last M closes the last subpath
            if command == "M":
                count += sum(segments) if len(segments) > 1 else 0
                segments = []
            elif command != "Z":
                segments.append(bool((points[k : k + POINT_ARITY[command]] == points[k - 1]).all()))
            k += POINT_ARITY[command]
    return count


def prefer_zero_length_segments(pipe, monkeypatch):
    """Make the LM draw paths of lines (+10 on `<path>` and `L`) and add 30 to the logit of the token three back:
    after `x y L` and `x y L x` that spells the segment's own start point, so zero-length lines are what it wants."""
    forward, seen = pipe.lm.forward, []
    lines = pipe.model_ids([pipe.tokenizer.element_ids["path"], pipe.tokenizer.command_ids["L"]])

    def boosted(tokens, *args, **kwargs):
        logits = forward(tokens, *args, **kwargs).clone()  # (B, T, V)
        seen[:] = tokens.tolist() if tokens.shape[1] > 1 else [r + t for r, t in zip(seen, tokens.tolist(), strict=True)]
        logits[:, -1, lines] += 10.0
        logits[torch.arange(len(seen)), -1, torch.tensor([r[-3] for r in seen])] += 30.0
        return logits

    monkeypatch.setattr(pipe.lm, "forward", boosted)


def test_samples_hold_no_zero_length_segments_even_when_the_model_prefers_them(pipe, monkeypatch):
    prefer_zero_length_segments(pipe, monkeypatch)
    results = pipe("a house", n=3, seed=0, temperature=1.0, top_p=1.0)
    results += pipe.edit(STROKE_ICON, "mirror it horizontally", seed=1, temperature=1.0, top_p=1.0)
    for result in results:
        assert zero_length_segments(result.document) == 0
        assert is_valid_svg(result.svg) and result.document.elements
        if result.info["finished"]:
            assert pipe.tokenizer.is_valid(list(result.tokens))
    monkeypatch.setattr(pipe, "_constraint", lambda _: pipe._grammar.constraint())
    unbanned = pipe("a house", n=3, seed=0, temperature=1.0, top_p=1.0)
    assert sum(zero_length_segments(r.document) for r in unbanned) > 10  # what the ban prevents


def test_describe_writes_text_and_scores_match_an_uncached_forward(pipe):
    text = pipe.describe(FILLED_ICON)
    assert isinstance(text, str) and "<|svg:" not in text
    candidates = [" Arrows: arrow up.", " House."]
    scores = pipe.continuation_scores(FILLED_ICON, candidates)
    prompt = pipe.prompt_ids("describe", svg_ids=pipe.svg_ids(FILLED_ICON))
    for candidate, score in zip(candidates, scores, strict=True):
        ids = pipe.text_ids(candidate)
        with torch.no_grad():
            logp = torch.log_softmax(pipe.lm(torch.tensor([prompt + ids]))[0].float(), -1)
        expected = sum(float(logp[len(prompt) - 1 + k, t]) for k, t in enumerate(ids))
        assert score == pytest.approx(expected, abs=1e-3)


def test_save_load_round_trip_keeps_tokens_and_outputs(pipe, tmp_path):
    pipe.config = LLM4SVGConfig(max_svg_tokens=200)
    pipe.save_pretrained(tmp_path / "copy")
    again = LLM4SVG.from_pretrained(tmp_path / "copy")
    assert again.token_ids == pipe.token_ids and again.config == pipe.config
    assert again.lm.config.vocab_size == pipe.lm.config.vocab_size  # nothing added twice
    assert again("a star", seed=3)[0].tokens == pipe("a star", seed=3)[0].tokens
    pipe.config = LLM4SVGConfig()


def test_the_public_edit_route_writes_a_valid_svg_and_refuses_bad_input(lm_dir):
    import gfx

    result = gfx.svg.edit(STROKE_ICON, "make it red", seed=0, model=lm_dir)
    assert is_valid_svg(result.svg) and result.document.elements and tuple(result.document.view_box) == (0, 0, 24, 24)
    assert result.prompt == "make it red" and result.tokens == gfx.svg.edit(STROKE_ICON, "make it red", seed=0,
                                                                              model=lm_dir).tokens
    with pytest.raises(ValueError, match='the edit instruction is empty; say what to change, e.g. "make it red"'):
        gfx.svg.edit(STROKE_ICON, "  ", model=lm_dir)
    with pytest.raises(SVGError, match="not well-formed XML"):
        gfx.svg.edit("<svg", "make it red", model=lm_dir)
    with pytest.raises(SVGError, match="no visible shape to edit"):
        gfx.svg.edit('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"/>', "make it red", model=lm_dir)


def test_bad_input_fails_clearly(pipe, tmp_path):
    from gfx.backbones.language import CausalLM

    with pytest.raises(KeyError, match="unknown LLM4SVG task 'paint'"):
        pipe.prompt_ids("paint", "x")
    with pytest.raises(ValueError, match="needs an input SVG"):
        pipe.prompt_ids("edit", "make it red")
    long_icon = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="'
                 + "".join(f"M{i % 20} 1L{i % 20} 20" for i in range(60)) + '" stroke="black"/></svg>')
    with pytest.raises(SVGError, match="semantic tokens; the limit is 256"):
        pipe.describe(long_icon)
    with pytest.raises(ValueError, match="n must be at least 1"):
        pipe("a house", n=0)
    with pytest.raises(FileNotFoundError, match="neither a saved LLM4SVG"):
        LLM4SVG.from_pretrained(tmp_path)
    CausalLM.from_config(copy.deepcopy(pipe.lm.config)).save_pretrained(tmp_path / "bare")  # no tokenizer
    with pytest.raises(ValueError, match="needs a causal LM with a text tokenizer"):
        LLM4SVG.from_pretrained(tmp_path / "bare")


def test_best_of_k_keeps_the_sample_the_reranker_scores_highest_and_saves_it(pipe, tmp_path):
    import numpy as np

    from gfx.svg.icon_clip import IconCLIP, IconCLIPConfig
    from gfx.svg.reranking import rerank_scores

    torch.manual_seed(0)
    reranker = IconCLIP(IconCLIPConfig.from_name("tiny")).eval()
    plain = pipe("a star", n=3, seed=5)
    with pytest.raises(ValueError, match="needs a pipeline with a reranker"):
        pipe("a star", seed=5, candidates=3)
    ranked = LLM4SVG(pipe.lm, pipe.tokenizer, LLM4SVGConfig(candidates=3), reranker)
    [best] = ranked("a star", seed=5)
    scores = rerank_scores(reranker, [r.svg for r in plain], "a star")
    assert best.svg == plain[int(np.argmax(scores))].svg and best.info["candidates"] == 3
    ranked.save_pretrained(tmp_path / "ranked")
    again = LLM4SVG.from_pretrained(tmp_path / "ranked")
    assert again.reranker is not None and again("a star", seed=5)[0].svg == best.svg
    with pytest.raises(ValueError, match="has no reranker"):
        LLM4SVG(pipe.lm, pipe.tokenizer, LLM4SVGConfig(candidates=3))
