"""Studio test setup: a tiny, untrained IconShop checkpoint (random weights, valid SVGs by grammar)."""

import pytest
import torch

from gfx.svg.iconshop import IconShop, IconShopConfig


@pytest.fixture(scope="session")
def tiny_iconshop(tmp_path_factory) -> str:
    """Directory of a tiny IconShop pipeline saved with `save_pretrained`."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("iconshop-tiny")
    IconShop.build(IconShopConfig.from_name("tiny")).save_pretrained(directory)
    return str(directory)
