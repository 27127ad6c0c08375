"""Vocabulary migration: OMP recovers sparse combinations of anchors; bin interpolation is exact on lines."""

import torch

from gfx.backbones.vocab import interpolate_bins, omp, transplant


def test_omp_reconstructs_a_row_that_is_a_sparse_combination_of_anchors():
    g = torch.Generator().manual_seed(0)
    anchors = torch.randn(40, 64, generator=g)  # (K, d_donor)
    target = 0.7 * anchors[3] - 1.2 * anchors[17] + 0.4 * anchors[29]
    idx, coef = omp(target[None], anchors, k=8)  # (1, 8) each
    sparse = torch.zeros(40, dtype=torch.float64).index_add_(0, idx[0], coef[0])
    expected = torch.zeros(40, dtype=torch.float64)
    expected[[3, 17, 29]] = torch.tensor([0.7, -1.2, 0.4], dtype=torch.float64)
    assert torch.allclose(sparse, expected, atol=1e-6)  # the three anchors, the other five at zero
    rows = torch.randn(40, 5, generator=g)  # (K, d): the model's anchor rows
    out = transplant(target[None], anchors, rows, k=8)  # (1, 5)
    assert torch.allclose(out[0], 0.7 * rows[3] - 1.2 * rows[17] + 0.4 * rows[29], atol=1e-5)


def test_omp_residual_shrinks_with_more_atoms_and_rows_are_fitted_independently():
    g = torch.Generator().manual_seed(1)
    anchors, targets = torch.randn(30, 12, generator=g), torch.randn(5, 12, generator=g)
    errors = []
    for k in (1, 2, 4, 8):
        idx, coef = omp(targets, anchors, k)
        assert idx.shape == (5, k)
        fit = torch.einsum("nk,nkd->nd", coef, anchors.double()[idx])
        errors.append(float((targets.double() - fit).norm()))
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.5 * errors[0]
    one_by_one = torch.cat([omp(t[None], anchors, 4, chunk=1)[1] for t in targets])
    assert torch.allclose(one_by_one, omp(targets, anchors, 4, chunk=2)[1])


def test_neighbour_bin_interpolation_is_exact_on_a_linear_embedding():
    offset, slope = torch.randn(8), torch.randn(8)
    old = offset + slope * (torch.arange(97.0)[:, None] / 96)  # (97, 8), linear in the bin value
    new = interpolate_bins(old, 193)
    assert torch.allclose(new, offset + slope * (torch.arange(193.0)[:, None] / 192), atol=1e-6)
    assert torch.equal(new[::2], old)  # the old bins are kept where the finer lattice has them
    lattice = old[None, :, :] + old[:, None, :]  # (97, 97, 8): (y, x) point rows, bilinear
    fine = interpolate_bins(interpolate_bins(lattice, 193, dim=0), 193, dim=1)
    assert torch.allclose(fine, new[None, :, :] + new[:, None, :], atol=1e-5)
