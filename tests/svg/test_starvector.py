"""StarVector: tiny preset trains, samples valid SVGs, and round-trips through save/load."""

import dataclasses

import numpy as np
import pytest
import torch

from gfx.recipes.starvector_data import ImageAugmentConfig, StarVectorBatches, random_transform
from gfx.svg.core.metrics import is_valid_svg
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import parse_svg
from gfx.svg.core.render import render
from gfx.svg.starvector import StarVector, StarVectorConfig
from gfx.svg.vectorization.vectorizer import vectorize
from gfx.train import TrainConfig, train


@pytest.fixture(scope="module")
def tiny_pipe(tmp_path_factory):
    """A tiny StarVector trained for a few steps on two icons, saved to disk."""
    from tests.conftest import FILLED_ICON, STROKE_ICON

    torch.manual_seed(0)
    pipe = StarVector.build(StarVectorConfig.from_name("tiny"))
    docs = [normalize(parse_svg(s)) for s in (STROKE_ICON, FILLED_ICON)]
    batches = StarVectorBatches(docs, pipe.tokenizer, pipe.config.image_size, 2, pipe.config.max_tokens,
                                ImageAugmentConfig(), seed=0)
    result = train(pipe.model, batches, TrainConfig(steps=6, lr=3e-3, warmup_steps=1, eval_every=0, log_every=1))
    pipe.model.eval()
    directory = pipe.save_pretrained(tmp_path_factory.mktemp("starvector"), dtype=None)
    return pipe, directory, result, docs


def test_tiny_model_trains(tiny_pipe):
    _, _, result, _ = tiny_pipe
    first, last = result.history[0]["loss"], result.history[-1]["loss"]
    assert result.step == 6 and last < first


def test_samples_are_valid_svgs_in_the_24_viewbox(tiny_pipe, filled_icon):
    pipe, _, _, _ = tiny_pipe
    results = pipe(render(filled_icon, 32), n=3, seed=1)
    assert len(results) == 3
    for r in results:
        assert r.document.elements and tuple(r.document.view_box) == (0, 0, 24, 24)
        assert is_valid_svg(r.svg) and r.tokens[0] == 1 and pipe.tokenizer.is_valid(r.tokens)


def test_samples_hold_no_zero_length_segments(tiny_pipe, stroke_icon, monkeypatch):
    pipe, _, _, _ = tiny_pipe
    tok, image = pipe.tokenizer, render(stroke_icon, 32)
    favourite = pipe.model.pointer.point_ids[:1]  # make the model draw nearly every point at one place
    boost = lambda logits, hidden, keys: logits.index_add(2, favourite, torch.full((*logits.shape[:2], 1), 30.0))  # noqa: E731
    monkeypatch.setattr(pipe.model.pointer, "add_logits", boost)

    def zero_length(results):
        return sum(r.tokens[i] in tok.zero_length_segment(list(r.tokens[:i])) for r in results
                   for i in range(3, len(r.tokens)))

    results = pipe(image, n=4, seed=3)
    assert zero_length(results) == 0 and sum(list(r.tokens).count(int(favourite)) for r in results) > 8
    monkeypatch.setattr(pipe, "_constraint", lambda _: pipe._grammar.constraint())
    assert zero_length(pipe(image, n=4, seed=3)) > 0  # what the ban prevents


def test_save_load_gives_identical_samples(tiny_pipe, stroke_icon):
    pipe, directory, _, _ = tiny_pipe
    loaded = StarVector.from_pretrained(directory)
    image = render(stroke_icon, 48)
    assert [r.svg for r in pipe(image, n=2, seed=5)] == [r.svg for r in loaded(image, n=2, seed=5)]
    assert loaded.config == pipe.config


def test_vectorize_batch_keeps_the_closest_candidate(tiny_pipe, filled_icon):
    pipe, _, _, _ = tiny_pipe
    [best] = pipe.vectorize_batch([render(filled_icon, 32)], seed=0, candidates=3)
    assert best.info["candidates"] == 3 and 0 <= best.info["model_mse"] <= 1


@pytest.mark.parametrize("method", ["neural", "neural+refine"])
def test_vectorize_neural_methods_return_valid_svg(tiny_pipe, filled_icon, method):
    pipe, _, _, _ = tiny_pipe
    result = vectorize(render(filled_icon, 64), method, model=pipe, size=64, refine_steps=5, fallback=False)
    assert result.document.elements and is_valid_svg(result.svg)
    assert result.info["method"] == method and result.info["fallback"] is None


def test_a_poor_model_result_falls_back_to_vtracer_and_says_so(tiny_pipe, filled_icon):
    pipe, _, _, _ = tiny_pipe
    target = render(filled_icon, 64)
    result = vectorize(target, "neural", model=pipe, size=64)  # a 6-step model is far off
    assert result.info["fallback"] == "vtracer"
    assert result.svg == vectorize(target, "vtracer", size=64).svg


def test_pointer_logits_are_the_same_with_and_without_the_kv_cache(tiny_pipe, stroke_icon):
    from gfx.svg.starvector import PrefixedDecoder

    pipe, _, _, docs = tiny_pipe
    with torch.no_grad():
        for p in pipe.model.pointer.query.parameters():
            p.normal_(0, 0.5)  # the trained query is still near its zero init
        prefix = pipe.model.condition(pipe.preprocess([render(stroke_icon, 32)]))
        tokens = torch.tensor([pipe.tokenizer.encode(docs[0])[:12]])
        full = PrefixedDecoder(pipe.model)(tokens, prefix=prefix)
        step = PrefixedDecoder(pipe.model)
        cache = pipe.model.decoder.new_cache(1, 100)
        first = step(tokens[:, :4], prefix=prefix, cache=cache)
        rest = [step(tokens[:, t : t + 1], cache=cache) for t in range(4, 12)]
    pointer_free = pipe.model.decoder(tokens, prefix=prefix[:, : pipe.model.config.encoder.grid ** 2])
    assert not torch.allclose(full, pointer_free, atol=1e-3)  # the pointer changes the point logits
    torch.testing.assert_close(torch.cat([first, *rest], 1), full, atol=1e-4, rtol=1e-4)


def test_pointer_keys_sample_the_image_where_each_lattice_point_lies(tiny_pipe):
    pipe, _, _, _ = tiny_pipe
    pointer, tok = pipe.model.pointer, pipe.tokenizer
    ramp = torch.linspace(0, 1, 32)[None, None, None, :].expand(1, 1, 32, 32)  # value = x across the image
    grid = pointer.point_coords[None, None]
    sampled = torch.nn.functional.grid_sample(ramp, grid, align_corners=False)[0, 0, 0]  # (N,)
    xy = tok.dequantize(tok.point_xy(pointer.point_ids.numpy())) / 24  # viewBox (x, y) in [0, 1]
    inside = ((xy > 0.05) & (xy < 0.95)).all(1)  # the zero padding pulls the border down
    np.testing.assert_allclose(sampled.numpy()[inside], xy[inside, 0], atol=0.02)
    assert (pointer.point_ids.numpy() == tok.point_base + np.arange(tok.lattice**2)).all()


def test_a_model_without_pointer_still_loads_and_samples(tmp_path, stroke_icon):
    torch.manual_seed(0)
    pipe = StarVector.build(StarVectorConfig.from_name("tiny"))
    plain = StarVector.build(StarVectorConfig.from_name("tiny"))
    plain.model.__init__(dataclasses.replace(plain.model.config, pointer_dim=0))
    plain.model.decoder.load_state_dict(pipe.model.decoder.state_dict())
    loaded = StarVector.from_pretrained(plain.save_pretrained(tmp_path, dtype=None))
    assert loaded.model.pointer is None
    [result] = loaded(render(stroke_icon, 32), seed=0)
    assert is_valid_svg(result.svg)


def test_geometry_augmentation_moves_tokens_with_the_picture(stroke_icon):
    doc = normalize(parse_svg(stroke_icon))
    cfg = ImageAugmentConfig(geometry_prob=1.0, width_prob=0.0)
    moved = random_transform(doc, np.random.default_rng(3), cfg)
    pts = np.concatenate([p.points for p in moved.paths])
    assert pts.min() >= -1e-9 and pts.max() <= 24 + 1e-9  # stays on the canvas
    assert not np.allclose(pts, np.concatenate([p.points for p in doc.paths]))


def test_unknown_directory_says_how_to_get_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="gfx train starvector"):
        StarVector.from_pretrained(tmp_path)


def test_shipped_model_vectorizes_a_corpus_icon_into_a_valid_svg(filled_icon):
    from gfx.models import MODELS_DIR

    directory = MODELS_DIR / "starvector-mini"
    if not directory.is_dir():
        pytest.skip("models/starvector-mini is not there")
    pipe = StarVector.from_pretrained(directory)
    [result] = pipe.vectorize_batch([render(filled_icon, 64)], seed=0, candidates=2)
    assert result.document.elements and is_valid_svg(result.svg) and pipe.tokenizer.is_valid(result.tokens)
