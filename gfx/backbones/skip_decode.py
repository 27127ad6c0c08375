"""SkipDecode (Del Corro et al. 2023, arXiv 2307.02628): later positions run fewer layers, KV cache intact.

Each position p gets a depth d(p). The depth falls linearly from n_layer at position `start` to `min_layers`
at `stop`, and stays there. It never grows with position. So every key that a query reads at layer l belongs
to an earlier position, and that position ran layer l too. The KV cache then has no hole that a later token
would read, nothing is recomputed, and the rows of a batch share the schedule. A position's layers are:

- `mode="exit"`: layers 0..d-1. The shared final norm and head read the hidden state where it stopped (early
  exit; its slots of the layers above stay empty in the cache);
- `mode="skip"`: the paper's choice. Layer 0 runs as a warm-up, then the top d-1 layers; the middle ones are
  skipped, so the layers next to the head always run.

    model = Transformer(TransformerConfig(..., n_layer=8, skip_decode=(4, 0, 128)))   # 8 layers at 0, 4 from 128
    tuned = with_skip_decode(trained, (4, 0, 128), "skip")     # same weights, schedule on: fine-tune this

`Transformer` applies the schedule in every forward, training included, so a model fine-tuned with it on learns
to predict from fewer layers. The schedule reads the RoPE positions (prefix included), and it assumes that a
query attends only to keys at earlier or equal positions (causal, tree and infilling masks all do). Cached
step-by-step decoding skips whole layers. A multi-token forward (prefill, training) still computes every
layer and keeps the result only where the position runs it, so it gains no speed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

SKIP_MODES = ("exit", "skip")


@dataclass(frozen=True)
class SkipSchedule:
    """Depth per position and the layers a depth runs.

    Args:
        n_layer: the model's layers.
        min_layers: the depth from position `stop` on, 1..n_layer.
        start, stop: positions where the linear fall from n_layer to `min_layers` begins and ends.
        mode: "exit" (the first d layers) or "skip" (layer 0 and the top d - 1).
    """

    n_layer: int
    min_layers: int
    start: int
    stop: int
    mode: str = "exit"

    def __post_init__(self):
        if self.mode not in SKIP_MODES:
            raise ValueError(f"skip_mode {self.mode!r} is not one of {SKIP_MODES}")
        if not 1 <= self.min_layers <= self.n_layer or not 0 <= self.start <= self.stop:
            raise ValueError(
                f"skip_decode (min_layers, start, stop) = {(self.min_layers, self.start, self.stop)} needs "
                f"1 <= min_layers <= n_layer ({self.n_layer}) and 0 <= start <= stop"
            )

    @classmethod
    def from_config(cls, config) -> SkipSchedule | None:
        """The schedule of a `TransformerConfig` (`skip_decode`, `skip_mode`), or None when it is off."""
        if config.skip_mode not in SKIP_MODES:
            raise ValueError(f"skip_mode {config.skip_mode!r} is not one of {SKIP_MODES}")
        if not config.skip_decode:
            return None
        if len(config.skip_decode) != 3:
            raise ValueError(f"skip_decode {config.skip_decode} must be (min_layers, start, stop) or ()")
        return cls(config.n_layer, *config.skip_decode, config.skip_mode)

    def depth(self, positions: Tensor) -> Tensor:
        """Layers run per position: (...) long positions -> (...) long, non-increasing, n_layer..min_layers."""
        span = max(self.stop - self.start, 1)
        fallen = (positions - self.start).clamp(0, self.stop - self.start)
        return self.n_layer - torch.div((self.n_layer - self.min_layers) * fallen, span, rounding_mode="floor")

    def least_depth(self, layer: int) -> int:
        """The smallest depth whose positions run `layer`."""
        if self.mode == "exit" or layer == 0:
            return layer + 1
        return self.n_layer - layer + 1

    def layers(self, depth: int) -> list[int]:
        """The layers a position of this depth runs, bottom up."""
        return [i for i in range(self.n_layer) if depth >= self.least_depth(i)]

    def run_block(self, block: nn.Module, layer: int, x: Tensor, depth: Tensor, valid: Tensor, **inputs) -> Tensor:
        """`block` on the positions whose depth runs `layer`; the others keep x and write no cache slot.

        Args:
            block: the layer, called as block(x, rope, mask, cache, layer, valid) (`transformer.Block`).
            x: (B, N, C) hidden states; depth: (B, N) long from `depth`; valid: (B, N) bool, False on padding.
            inputs: rope, mask, cache, passed on to the block.

        Returns:
            (B, N, C); x itself when no position runs the layer (a decode step skips it whole).
        """
        runs = depth >= self.least_depth(layer)  # (B, N)
        if bool(runs.all()):
            return block(x, layer=layer, valid=valid, **inputs)
        if not bool(runs.any()):
            return x
        return torch.where(runs[..., None], block(x, layer=layer, valid=valid & runs, **inputs), x)


def with_skip_decode(model: nn.Module, skip_decode: tuple[int, ...], mode: str = "exit") -> nn.Module:
    """A copy of a `Transformer` with the schedule (min_layers, start, stop) on (`()`: off) and the same weights:
    the start of a SkipDecode fine-tune, or a trained model run with a schedule it never saw."""
    config = dataclasses.replace(model.config, skip_decode=tuple(skip_decode), skip_mode=mode)
    copy = type(model)(config).to(next(model.parameters()).device)
    copy.load_state_dict(model.state_dict())
    return copy.train(model.training)
