"""Tokenizers shared across modalities: vector quantizers (VQ, residual, multi-scale residual)."""

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
    "VectorQuantizer",
    "code_bytes",
]
