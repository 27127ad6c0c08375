"""Tokenizers shared across modalities: the `Tokenizer` protocol and vector quantizers (VQ, residual,
multi-scale residual)."""

from gfx.tokenizers.protocol import Tokenizer
from gfx.tokenizers.quantizers import (
    MultiScaleResidualQuantizer,
    QuantizerOutput,
    ResidualQuantizer,
    VectorQuantizer,
    code_bytes,
)

__all__ = [
    "MultiScaleResidualQuantizer",
    "QuantizerOutput",
    "ResidualQuantizer",
    "Tokenizer",
    "VectorQuantizer",
    "code_bytes",
]
