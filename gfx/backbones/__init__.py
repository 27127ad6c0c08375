"""Shared sequence backbones and decoding.

- `transformer`: the decoder-only `Transformer` (RoPE, SwiGLU, prefix conditioning, extra embeddings),
  with options `coordinate_embedding` (Fourier coordinate tables), `lexinvariant` (per-sequence ID vectors)
  and `skip_decode` (SkipDecode: fewer layers for later positions, KV-cache compatible);
- `vocab`: vocabulary migration (OMP transplantation, neighbour-bin interpolation); `toolken`: new token rows on a
  frozen model, trained alone (ToolkenGPT);
- `kv_cache`: the explicit `KVCache` (append, crop/rollback, fork, reorder, gather) and `FullCache`;
- `decoding`: `generate()`, a numbered loop over shared steps (prefill, decode step, row finishing),
  with `sampling` (temperature, top-k/p, min-p, repetition penalty), `guidance` (classifier-free),
  `masking` (constraint masks) over `constraints` (xgrammar `Grammar`, hand-written `AutomatonConstraint`);
- entry points over the same steps: `awrs.generate_awrs` (adaptive weighted rejection sampling) and
  `speculative.generate_speculative` (Token Recycling); `routing.generate_routed` (R2R: a router hands
  single tokens from a small model to a large one); `keyformer.Keyformer`, a cache policy that bounds the KV cache;
- infilling generators on a plain `Transformer` with their own objectives: `any_subset` (AS-ARM: any subset
  given any other in one pass; `sample_assd`, any-subset speculative decoding, exact in distribution) and
  `insertion` (insertion LM: one token anywhere per pass, with a stop outcome, for infills of unknown length);
- `language`: `CausalLM`, a transformers causal LM behind the same interface (optional dependency);
  `token_healing.generate_healed`, exact token healing for its BPE prompts that end mid-token;
- `layers`, `set_blocks`, `diffusion`, `text_encoder`: layers, set-transformer blocks, diffusion
  helpers and the MiniLM text encoder shared by the modalities.
"""

from gfx.backbones.awrs import generate_awrs
from gfx.backbones.constraints import AutomatonConstraint, Constraint, Grammar
from gfx.backbones.decoding import GenerationOutput, generate, left_pad
from gfx.backbones.guidance import Guidance
from gfx.backbones.keyformer import Keyformer
from gfx.backbones.kv_cache import FullCache, KVCache
from gfx.backbones.sampling import GREEDY, SamplingConfig
from gfx.backbones.speculative import TokenRecycling, generate_speculative
from gfx.backbones.transformer import Transformer, TransformerConfig

__all__ = [
    "GREEDY",
    "AutomatonConstraint",
    "Constraint",
    "FullCache",
    "GenerationOutput",
    "Grammar",
    "Guidance",
    "KVCache",
    "Keyformer",
    "SamplingConfig",
    "TokenRecycling",
    "Transformer",
    "TransformerConfig",
    "generate",
    "generate_awrs",
    "generate_speculative",
    "left_pad",
]
