"""Contract tests over the registries: every shipped model (`gfx.models.SHIPPED`) loads by the class its
directory names, a save -> load round trip gives identical outputs under a seed, and outputs are
deterministic under a seed; every pipeline class (`gfx.checkpoint.PIPELINES`) has a shipped model.

Outputs are kept small (one sample, few steps) so the file stays well under a minute on 2 cores.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from gfx.checkpoint import CLASS_KEY, CLASSES, CONFIG_NAME, MODEL_INDEX_NAME, PIPELINES, load_pretrained
from gfx.models import SHIPPED, model_path

ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M4 4h16v16H4z" fill="black"/></svg>'
IMAGE = np.full((32, 32, 3), 255, np.uint8)
IMAGE[8:24, 8:24] = 0  # a black square on white


def _mesh_arrays(mesh) -> list:
    return [mesh.names, mesh.verts_packed(), mesh.faces_packed()]


def _chair():
    from gfx.data.parts3d import generate
    from gfx.mesh import PartMesh

    return PartMesh.from_records(generate("chair", 0).parts)


OUTPUTS: dict[str, Callable] = {
    "IconShop": lambda pipe, seed: [r.svg for r in pipe("house", n=1, seed=seed)],
    "StarVector": lambda pipe, seed: [r.svg for r in pipe(IMAGE, n=1, seed=seed)],
    "IconCLIP": lambda model, seed: [model.encode_images([ICON]), model.encode_texts(["house"])],
    "FullPart": lambda pipe, seed: _mesh_arrays(pipe("a wooden chair", seed=seed).mesh),
    "VATPipeline": lambda pipe, seed: _mesh_arrays(pipe("a round table", seed=seed)),
    "PointClassifier": lambda model, seed: [model.classify(_chair(), seed=seed)[1]],
    "SVGCraftLayout": lambda pipe, seed: [pipe("two trees left of a house", seed=seed).tokens],
    "ShapesDiffusionPipeline": lambda pipe, seed: [np.asarray(r.image) for r in pipe("a large red circle", seed=seed,
                                                                                      steps=4)],
    "LLM4SVG": lambda pipe, seed: [r.svg for r in pipe("house", n=1, seed=seed)] + [pipe.describe(ICON)],
}
"""Class name -> a small seeded output of a loaded model (what the round trip and determinism compare)."""


def assert_same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y


@pytest.fixture(scope="module", params=sorted(SHIPPED))
def shipped(request):
    """(task, loaded model) of every shipped checkpoint."""
    return request.param, load_pretrained(model_path(request.param))


def test_every_shipped_directory_names_its_class():
    for task in SHIPPED:
        directory = model_path(task)
        index = directory / MODEL_INDEX_NAME
        name = json.loads((index if index.is_file() else directory / CONFIG_NAME).read_text())[CLASS_KEY]
        assert name in CLASSES, (task, name)
        assert name in OUTPUTS, f"add an output of {name} to OUTPUTS"
        if index.is_file():
            assert name in PIPELINES
            for component in json.loads(index.read_text()):
                folder = directory / component
                assert not folder.is_dir() or any(folder.iterdir()), folder


def test_every_pipeline_class_has_a_shipped_model():
    shipped = {json.loads((model_path(t) / MODEL_INDEX_NAME).read_text())[CLASS_KEY]
               for t in SHIPPED if (model_path(t) / MODEL_INDEX_NAME).is_file()}  # fmt: skip
    assert shipped == set(PIPELINES)


def test_shipped_model_is_deterministic_under_a_seed(shipped):
    _, model = shipped
    run = OUTPUTS[type(model).__name__]
    assert_same(run(model, 3), run(model, 3))


def test_save_load_round_trip_gives_identical_outputs(shipped, tmp_path):
    _, model = shipped
    model.save_pretrained(tmp_path / "copy")
    loaded = load_pretrained(tmp_path / "copy")
    assert type(loaded) is type(model)
    run = OUTPUTS[type(model).__name__]
    assert_same(run(loaded, 5), run(model, 5))
