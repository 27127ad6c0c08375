"""ToolkenGPT (Hao et al. 2023, arXiv 2305.11554): new tokens ("toolkens") on a frozen language model. The new
tokens get embedding and output-head rows, and only those rows train; every other weight stays as it was.

    model = with_new_tokens(frozen, init_rows)         # vocab_size + N, the old rows unchanged
    train_new_rows_only(model, frozen.config.vocab_size) # requires_grad off elsewhere, old rows' gradients zeroed
    train(model, batches, TrainConfig(weight_decay=0.0, ...))

With tied embeddings (`tie_embeddings`) one matrix holds a token's embedding and head row. Weight decay must be
0: AdamW decays every row of a matrix, the frozen ones too. Adam leaves a row whose gradient is always zero
unchanged, so the old rows stay bit for bit (`tests/backbones/test_toolken.py`). `gfx.svg.macros` defines the
icon primitives trained this way.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn


def with_new_tokens(model: nn.Module, rows: Tensor, head_rows: Tensor | None = None) -> nn.Module:
    """A copy of a `Transformer` with N tokens added after its vocabulary; their extra ids (x/y tables) are -1.

    Args:
        rows: (N, d_model) the new tokens' embedding rows (and head rows when the embeddings are tied).
        head_rows: (N, d_model) their head rows for an untied model; default `rows`.

    Returns:
        the new model (vocab_size + N) in the original's mode, on its device.
    """
    old = model.config.vocab_size
    config = dataclasses.replace(model.config, vocab_size=old + len(rows))
    copy = type(model)(config).to(next(model.parameters()).device)
    state = model.state_dict()
    state["embed.weight"] = torch.cat([state["embed.weight"], rows.to(state["embed.weight"])])
    if config.tie_embeddings:
        state["lm_head.weight"] = state["embed.weight"]
    else:
        head_rows = rows if head_rows is None else head_rows
        state["lm_head.weight"] = torch.cat([state["lm_head.weight"], head_rows.to(state["lm_head.weight"])])
    extra = state["token_extra_ids"]
    state["token_extra_ids"] = torch.cat([extra, extra.new_full((len(rows), extra.shape[1]), -1)])
    copy.load_state_dict(state)
    return copy.train(model.training)


def train_new_rows_only(model: nn.Module, first: int) -> list:
    """Freeze every parameter of `model` but the embedding and head rows from token id `first` on.

    Returns:
        the gradient hooks that zero the old rows (`handle.remove()` undoes them).
    """
    for p in model.parameters():
        p.requires_grad_(False)
    handles = []
    for weight in dict.fromkeys((model.embed.weight, model.lm_head.weight)):  # one matrix when tied
        weight.requires_grad_(True)
        handles.append(weight.register_hook(lambda grad: torch.cat([torch.zeros_like(grad[:first]), grad[first:]])))
    return handles
