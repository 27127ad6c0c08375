"""Shared sequence backbones and decoding.

- `transformer`: the decoder-only `Transformer` (RoPE, SwiGLU, prefix conditioning, extra embeddings);
- `kv_cache`: the explicit `KVCache` (append, crop/rollback, fork, reorder, gather);
- `decoding`: `generate()` with `sampling` (temperature, top-k/p, min-p, repetition penalty, CFG),
  `constraints` (xgrammar `Grammar`, hand-written `AutomatonConstraint`), `awrs`, `speculative`
  (Token Recycling) and `keyformer` (KV-cache reduction);
- `language`: `CausalLM`, a transformers causal LM behind the same interface (optional dependency).
"""

from gfx.backbones.constraints import AutomatonConstraint, Constraint, Grammar
from gfx.backbones.decoding import GenerationOutput, generate, left_pad
from gfx.backbones.keyformer import Keyformer
from gfx.backbones.kv_cache import KVCache
from gfx.backbones.sampling import GREEDY, SamplingConfig
from gfx.backbones.speculative import TokenRecycling
from gfx.backbones.transformer import Transformer, TransformerConfig

__all__ = [
    "GREEDY",
    "AutomatonConstraint",
    "Constraint",
    "GenerationOutput",
    "Grammar",
    "KVCache",
    "Keyformer",
    "SamplingConfig",
    "TokenRecycling",
    "Transformer",
    "TransformerConfig",
    "generate",
    "left_pad",
]
