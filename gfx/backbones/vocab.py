"""Vocabulary migration: rows for a trained model's new tokens, without training.

- `transplant` (OMP tokenizer transplantation, Goddard & Fernandes Neto 2025, arXiv 2506.06607; mergekit's
  `tokensurgeon`): in a donor space where both old and new tokens have vectors, write each new token as a
  sparse combination of shared anchor tokens (orthogonal matching pursuit), then apply the same
  coefficients to the anchors' rows of the model being migrated.
- `interpolate_bins`: for coordinate tokens, the simpler domain rule: a new bin's row is the linear
  interpolation of the two old bins around its value (along one axis of a lattice table; applied to each
  axis in turn, it is bilinear over a 2-D lattice of point tokens).

    rows = transplant(donor[new_ids], donor[anchor_ids], model_rows[anchor_ids], k=8)    # (N, d)
    x_table = interpolate_bins(old_x_table, 193)                                          # (97, d) -> (193, d)
"""

from __future__ import annotations

import torch
from torch import Tensor


def omp(targets: Tensor, atoms: Tensor, k: int, chunk: int = 2048) -> tuple[Tensor, Tensor]:
    """Orthogonal matching pursuit, batched: a k-sparse least-squares fit of each target by rows of `atoms`.

    Each of k steps adds, per target, the unchosen atom most correlated (cosine) with its residual and
    refits the chosen atoms by least squares. A target that is exactly a combination of fewer atoms is
    fitted exactly; the atoms chosen after that get coefficients of zero.

    Args:
        targets: (N, d) float.
        atoms: (K, d) float, the anchors' vectors.
        k: atoms per target (at most K).
        chunk: targets per batched step (memory: chunk * K scores).

    Returns:
        indices (N, k) long and coefficients (N, k) float64: targets ~= (coef[..., None] * atoms[indices]).sum(1).
    """
    a = atoms.double()
    k = min(k, len(a))
    unit = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (K, d)
    indices = torch.zeros(len(targets), k, dtype=torch.long)
    coef = torch.zeros(len(targets), k, dtype=torch.float64)
    for start in range(0, len(targets), chunk):
        y = targets[start : start + chunk].double()  # (n, d)
        residual, chosen = y, torch.zeros(len(y), 0, dtype=torch.long)
        for _ in range(k):
            score = (residual @ unit.T).abs()  # (n, K)
            score.scatter_(1, chosen, -1.0)
            chosen = torch.cat([chosen, score.argmax(1, keepdim=True)], dim=1)  # (n, m)
            basis = a[chosen]  # (n, m, d)
            c = torch.linalg.lstsq(basis.transpose(1, 2), y.unsqueeze(2)).solution.squeeze(2)  # (n, m)
            residual = y - torch.einsum("nm,nmd->nd", c, basis)
        indices[start : start + chunk], coef[start : start + chunk] = chosen, c
    return indices, coef


def transplant(donor_new: Tensor, donor_anchors: Tensor, anchor_rows: Tensor, k: int = 8) -> Tensor:
    """Rows for new tokens by OMP transplantation.

    Args:
        donor_new: (N, d_donor) the new tokens' vectors in the donor space.
        donor_anchors: (K, d_donor) the shared anchor tokens' vectors in the donor space.
        anchor_rows: (K, d) the anchors' rows in the model being migrated (embedding or head).
        k: anchors per new token.

    Returns:
        (N, d) rows, in `anchor_rows`' dtype.
    """
    indices, coef = omp(donor_new, donor_anchors, k)
    rows = torch.einsum("nk,nkd->nd", coef, anchor_rows.double()[indices])
    return rows.to(anchor_rows.dtype)


def interpolate_bins(table: Tensor, n_new: int, dim: int = 0) -> Tensor:
    """Resample a coordinate table to `n_new` bins over the same value range (bin i of n at value
    i / (n - 1)), each new bin linearly interpolated from the old bins on either side of its value.

    Args:
        table: (..., n_old, ...) rows indexed by bin along `dim`.
        n_new: bins along `dim` after migration.

    Returns:
        the table with `dim` resized to n_new; exact when the rows are linear in the bin value.
    """
    n_old = table.shape[dim]
    pos = torch.arange(n_new, dtype=torch.float64) * (n_old - 1) / (n_new - 1)  # (n_new,) in old bins
    lo = pos.floor().long().clamp(max=n_old - 2)
    w = (pos - lo).to(table.dtype)
    shape = [1] * table.dim()
    shape[dim] = n_new
    w = w.view(shape)
    return table.index_select(dim, lo) * (1 - w) + table.index_select(dim, lo + 1) * w
