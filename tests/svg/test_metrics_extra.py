"""Fréchet distance, IconShop's Uniqueness and Novelty."""

import numpy as np
import pytest
import scipy.linalg

from gfx.svg.core.metrics import frechet_distance, novelty, uniqueness


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy's general sqrtm (pytorch-fid's computation)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_perturbation():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 16))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)
    small = frechet_distance(features, features + rng.normal(scale=0.1, size=features.shape))
    large = frechet_distance(features, features + rng.normal(scale=1.0, size=features.shape))
    assert 0 < small < large
    shifted = frechet_distance(features, features + 0.5)  # a pure mean shift adds |0.5|^2 per dimension
    assert shifted == pytest.approx(16 * 0.25, rel=1e-9)


def test_frechet_distance_matches_the_scipy_sqrtm_formula():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8))
    b = rng.normal(loc=0.3, size=(250, 8)) @ rng.normal(size=(8, 8))
    assert frechet_distance(a, b) == pytest.approx(reference_fid(a, b), rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)


def test_frechet_distance_survives_singular_covariances():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(10, 32))  # fewer samples than dimensions: rank-deficient covariance
    b = rng.normal(size=(10, 32))
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value > 0


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="equal D"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="N>=2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_uniqueness_counts_samples_that_occur_once():
    seqs = [[1, 2, 3], [1, 2, 3], [4, 5], (4, 5, 6), np.array([7])]
    # [1,2,3] occurs twice; [4,5], (4,5,6) and [7] once each -> 3 of 5
    assert uniqueness(seqs) == pytest.approx(60.0)
    assert uniqueness([[1], [2]]) == 100.0
    assert uniqueness([[1], [1]]) == 0.0
    with pytest.raises(ValueError):
        uniqueness([])


def test_novelty_is_the_share_not_in_the_training_set():
    train = [[1, 2, 3], [4, 5]]
    generated = [[1, 2, 3], [1, 2, 3], [4, 5, 6], [9], (4, 5)]
    # novel: [4,5,6] and [9] -> 2 of 5; a prefix of a training sequence is novel, an exact copy is not
    assert novelty(generated, train) == pytest.approx(40.0)
    assert novelty([[1, 2]], train) == 100.0
    assert novelty(train, train) == 0.0
