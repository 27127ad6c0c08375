"""Move a trained path-token model (IconShop's `Transformer` over `PathTokenizer` ids) to a finer lattice
without training: a vocabulary migration (`gfx.backbones.vocab`).

The finer lattice keeps every old lattice value ((new - 1) must be a multiple of (old - 1)), so each old
point token has a new twin that keeps its rows exactly; style and command tokens keep theirs too. Only
the points between old values are new, and `init` chooses their embedding (and untied head) rows and
the new bins of the x/y tables:

- "interpolate": neighbour-bin interpolation, bilinear over the (y, x) lattice of point rows, linear
  along each axis table;
- "omp": OMP transplantation from the old points as anchors, in the donor space of fixed Fourier
  features of the point's (x, y) value (`coordinate_embedding.fourier_features`);
- "mean": the mean of the old rows; "zero": zeros (the baselines).

    model, tokenizer = migrate_lattice(pipe.model, pipe.tokenizer, grid=193)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from gfx.backbones.coordinate_embedding import fourier_features
from gfx.backbones.transformer import Transformer
from gfx.backbones.vocab import interpolate_bins, transplant
from gfx.svg.tokenizers.path import PathTokenizer

INITS = ("interpolate", "omp", "mean", "zero")
OMP_ATOMS = 4  # anchors per new point: as many as bilinear interpolation uses
DONOR_WIDTH = 32  # Fourier features per axis in the OMP donor space


def new_rows(old: Tensor, size: int, init: str) -> Tensor:
    """An axis-major lattice table moved to `size` values per axis.

    Args:
        old: (g, ..., g, d) rows over a lattice of g values per axis (one axis: (g, d); points: (g, g, d),
            indexed [y, x]).
        size: new values per axis, (size - 1) a multiple of (g - 1).
        init: one of `INITS`.

    Returns:
        (size, ..., size, d); the rows at old values are `old` exactly.
    """
    g, axes, d = old.shape[0], old.dim() - 1, old.shape[-1]
    step = (size - 1) // (g - 1)
    if (size - 1) % (g - 1) or step < 1:
        raise ValueError(f"a lattice of {g} values moves to {size} only if {size - 1} is a multiple of {g - 1}")
    if init == "interpolate":
        out = old
        for axis in range(axes):
            out = interpolate_bins(out, size, dim=axis)
    elif init == "omp":
        features = fourier_features(size, DONOR_WIDTH)  # (size, w)
        grids = torch.meshgrid(*[torch.arange(size)] * axes, indexing="ij")
        donor = torch.cat([features[i.flatten()] for i in grids], dim=1)  # (size ** axes, axes * w)
        kept = torch.ones(size**axes, dtype=torch.bool)
        for i in grids:
            kept &= (i.flatten() % step) == 0
        out = torch.empty(size**axes, d, dtype=old.dtype)
        out[kept] = old.reshape(-1, d)
        out[~kept] = transplant(donor[~kept], donor[kept], old.reshape(-1, d), OMP_ATOMS)
        out = out.reshape(*[size] * axes, d)
    elif init in ("mean", "zero"):
        fill = old.reshape(-1, d).mean(0) if init == "mean" else torch.zeros(d, dtype=old.dtype)
        out = fill.expand(*[size] * axes, d).clone()
    else:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    out[(slice(None, None, step),) * axes] = old  # old values keep their rows exactly
    return out


def migrate_lattice(
    model: Transformer, tokenizer: PathTokenizer, grid: int, init: str = "interpolate"
) -> tuple[Transformer, PathTokenizer]:
    """A copy of `model` for `tokenizer` at lattice `grid` (same viewBox, margin and styles).

    Args:
        model: trained over `tokenizer`'s ids, with x/y extra tables of its lattice size (IconShop's).
        grid: new lattice values per axis; (grid - 1) a multiple of the old (grid - 1), no margin.
        init: how new point rows start, one of `INITS`.

    Returns:
        (the migrated model in eval mode, the new tokenizer).
    """
    if tokenizer.config.margin:
        raise ValueError("lattice migration needs a tokenizer without margin (margin=0)")
    if model.config.coordinate_embedding != "learned":
        raise ValueError("lattice migration moves learned x/y tables; Fourier tables depend on the lattice size")
    new_tok = PathTokenizer(dataclasses.replace(tokenizer.config, grid=grid))
    g, size, base = tokenizer.lattice, new_tok.lattice, tokenizer.point_base
    config = dataclasses.replace(model.config, vocab_size=new_tok.vocab_size, extra_vocab_sizes=(size, size))
    out = Transformer(config)
    state = model.state_dict()

    def token_rows(rows: Tensor) -> Tensor:  # (V_old, d) -> (V_new, d)
        points = new_rows(rows[base:].reshape(g, g, -1), size, init).reshape(size * size, -1)
        return torch.cat([rows[:base], points])

    state["embed.weight"] = token_rows(state["embed.weight"])
    if not config.tie_embeddings:
        state["lm_head.weight"] = token_rows(state["lm_head.weight"])
    for i in range(len(config.extra_vocab_sizes)):
        state[f"extra.{i}.weight"] = new_rows(state[f"extra.{i}.weight"], size, init)
    state["token_extra_ids"] = torch.from_numpy(new_tok.point_xy(np.arange(new_tok.vocab_size)))
    if config.tie_embeddings:
        state["lm_head.weight"] = state["embed.weight"]
    out.load_state_dict(state)
    return out.eval(), new_tok
