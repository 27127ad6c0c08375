"""The category classifier: shapes, save/load, its inputs, and the shipped model on held-out objects."""

from itertools import islice

import numpy as np
import pytest
import torch

from gfx.checkpoint import load_pretrained
from gfx.data.parts3d import CATEGORIES, iter_objects
from gfx.mesh import PartMesh
from gfx.mesh.classify import PointClassifier, PointClassifierConfig, category_accuracy, surface_points
from gfx.models import MODELS_DIR

SHIPPED = MODELS_DIR / "parts-classifier"


@pytest.fixture
def tiny() -> PointClassifier:
    torch.manual_seed(0)
    return PointClassifier(PointClassifierConfig.from_name("tiny")).eval()


def test_forward_loss_and_classify_shapes(tiny, two_parts):
    assert tiny.config.categories == tuple(CATEGORIES)
    logits = tiny(torch.rand(2, 100, 3) * 2 - 1)
    assert logits.shape == (2, len(CATEGORIES))
    loss = tiny.loss({"points": torch.rand(3, 50, 3), "category": torch.tensor([0, 3, 7])})
    assert loss.ndim == 0 and torch.isfinite(loss)
    name, probs = tiny.classify(two_parts, n_points=256)
    assert name in CATEGORIES and probs.shape == (len(CATEGORIES),) and probs.dtype == np.float32
    assert probs.sum() == pytest.approx(1.0, abs=1e-5) and name == list(CATEGORIES)[int(probs.argmax())]


def test_points_are_normalized_seeded_samples_of_the_surface(two_parts):
    points = surface_points(two_parts, 500, seed=1)
    assert points.shape == (500, 3) and points.dtype == np.float32
    assert np.abs(points).max() <= 1.0 + 1e-5 and np.ptp(points, axis=0).max() == pytest.approx(2.0, abs=0.05)
    np.testing.assert_array_equal(points, surface_points(two_parts, 500, seed=1))
    assert not np.array_equal(points, surface_points(two_parts, 500, seed=2))


def test_classification_ignores_position_and_scale(tiny, two_parts):
    moved = PartMesh([p.transformed(0.3, np.array([2.0, -1.0, 0.5])) for p in two_parts])
    np.testing.assert_allclose(tiny.classify(moved)[1], tiny.classify(two_parts)[1], atol=1e-5)


def test_save_load_round_trip_gives_identical_logits(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "clf")
    loaded = load_pretrained(tmp_path / "clf")
    assert type(loaded) is PointClassifier and loaded.config == tiny.config
    points = torch.rand(2, 64, 3)
    torch.testing.assert_close(loaded(points), tiny(points), rtol=0, atol=0)


def test_config_rejects_repeated_categories():
    with pytest.raises(ValueError, match="distinct"):
        PointClassifierConfig(categories=("chair", "chair"))


def test_category_accuracy_checks_its_input(tiny, two_parts):
    with pytest.raises(ValueError, match="1 meshes but 2 categories"):
        category_accuracy([two_parts], ["chair", "lamp"], model=tiny)
    with pytest.raises(ValueError, match="does not know sofa"):
        category_accuracy([two_parts], ["sofa"], model=tiny)
    assert category_accuracy([two_parts, two_parts], ["chair", "lamp"], model=tiny) == 0.5


@pytest.mark.skipif(not (SHIPPED / "config.json").is_file(), reason="models/parts-classifier not trained")
def test_shipped_model_recognises_held_out_objects():
    """Two test-split objects per category (never trained on), through the default (shipped) model."""
    objects = [o for c in CATEGORIES for o in islice(iter_objects(400, split="test", categories=[c]), 2)]
    assert len(objects) == 2 * len(CATEGORIES)
    meshes = [PartMesh.from_records(o.parts) for o in objects]
    assert category_accuracy(meshes, [o.category for o in objects]) == 1.0
    model = PointClassifier.from_pretrained(SHIPPED)
    name, probs = model.classify(meshes[0])
    assert name == objects[0].category and probs.max() > 0.5
