"""Tiny seeded backbones for the decoding tests."""

import pytest
import torch

from gfx.backbones.transformer import Transformer, TransformerConfig


def make_model(vocab_size: int = 48, seed: int = 0, **overrides) -> Transformer:
    """A random tiny transformer in eval mode (deterministic for a seed).

    Untied embeddings and a wide init make its greedy output varied; the default small init makes a
    random model repeat its last token, which would make decoding tests trivial.
    """
    torch.manual_seed(seed)
    config = TransformerConfig.from_name(
        "tiny", vocab_size=vocab_size, **{"tie_embeddings": False, "init_std": 0.5, **overrides}
    )
    return Transformer(config).eval()


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def model() -> Transformer:
    return make_model()


@pytest.fixture
def prefix_model() -> Transformer:
    return make_model(prefix_dim=8, n_kv_head=1)
