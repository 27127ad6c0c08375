"""A pretrained causal LM (HF transformers, optional) behind the backbone interface of `generate()`.

    lm = CausalLM.from_pretrained("models/some-local-lm")          # local files only
    ids = lm.add_modality_tokens(["<svg_path>", "<svg_circle>"], ["an svg path element", "a circle"])
    out = generate(lm, prompt, max_new_tokens=200, constraints=[...], stop_tokens=[eos])

`CausalLM` exposes what `Transformer` does: `new_cache(batch, max_len)`, `__call__(tokens, *, prefix,
prefix_mask, cache, attention_mask, position_ids, attn_mask) -> logits (B, T, V)`, and a cache with
`length`, `position`, `crop`, `rollback`, `fork`, `reorder`, `gather`. New modality tokens (e.g. the
LLM4SVG semantic tokens) get embeddings initialised to the mean embedding of their description text.

Written against transformers 5.x: the cache keyword is `cache` (5.x renamed it from
`past_key_values`; both are detected), and `DynamicCache.crop` now takes the number of tokens to
*remove*, so the cache here edits the layers' key/value tensors directly instead.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from gfx.backbones.layers import diagonal_mask
from gfx.backbones.transformer import batch_loss
from gfx.runtime import optional_import

log = logging.getLogger(__name__)

PREFIX_WEIGHTS = "prefix_proj.safetensors"


class HFCache:
    """A transformers `DynamicCache` with the bookkeeping of `KVCache` (validity, position, editing).

    Attributes:
        hf: the transformers cache passed to the model.
        valid: (B, length) bool, False for padding slots (becomes the model's 2-D attention mask).
        length, position: slots held and the next absolute position.
    """

    def __init__(self, hf_cache, batch_size: int, device):
        self.hf = hf_cache
        self.valid = torch.zeros(batch_size, 0, dtype=torch.bool, device=device)
        self.position = 0

    @property
    def length(self) -> int:
        return self.valid.shape[1]

    @property
    def batch_size(self) -> int:
        return self.valid.shape[0]

    def _edit(self, fn) -> None:
        for layer in self.hf.layers:
            if getattr(layer, "keys", None) is not None and layer.keys.numel():
                layer.keys, layer.values = fn(layer.keys), fn(layer.values)

    def crop(self, length: int) -> None:
        """Keep only the first `length` slots (the position moves back by the same amount)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot crop a cache of length {self.length} to {length}")
        self.position -= self.length - length
        self._edit(lambda t: t[:, :, :length].contiguous())
        self.valid = self.valid[:, :length]

    def rollback(self, n: int) -> None:
        """Forget the last `n` tokens."""
        self.crop(self.length - n)

    def fork(self) -> HFCache:
        """An independent copy."""
        return copy.deepcopy(self)

    def reorder(self, rows: Tensor) -> None:
        """Replace the batch by rows `rows` of it: (B',) long."""
        self._edit(lambda t: t.index_select(0, rows.to(t.device)))
        self.valid = self.valid.index_select(0, rows.to(self.valid.device))

    def gather(self, slots: Tensor) -> None:
        """Keep the given slots, in order, for every row: (S',) long; `position` is unchanged."""
        self._edit(lambda t: t.index_select(2, slots.to(t.device)))
        self.valid = self.valid.index_select(1, slots.to(self.valid.device))


class CausalLM(nn.Module):
    """Adapter around a transformers causal LM (and optionally its tokenizer).

    Args:
        model: a transformers `PreTrainedModel` with a causal-LM head.
        tokenizer: its tokenizer, or None (token ids only).
        prefix_dim: width of conditioning vectors to project into the embedding space; 0: none.
    """

    def __init__(self, model: nn.Module, tokenizer=None, prefix_dim: int = 0):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.prefix_dim = prefix_dim
        hidden = model.get_input_embeddings().embedding_dim
        self.prefix_proj = nn.Linear(prefix_dim, hidden) if prefix_dim else None
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    @property
    def config(self):
        """The transformers config (`vocab_size` etc.)."""
        return self.model.config

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        *,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
        prefix_dim: int = 0,
    ) -> CausalLM:
        """Load model (and tokenizer, when present) from a local directory; never downloads, prints no progress bar."""
        transformers = optional_import("transformers")
        transformers.utils.logging.disable_progress_bar()
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise FileNotFoundError(
                f"{directory}/config.json not found; CausalLM loads local directories only"
            )
        model = transformers.AutoModelForCausalLM.from_pretrained(
            directory, local_files_only=True, dtype=dtype
        )
        tokenizer = None
        if any((directory / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json")):
            tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        lm = cls(model, tokenizer, prefix_dim)
        if (directory / PREFIX_WEIGHTS).is_file():
            weights = load_file(directory / PREFIX_WEIGHTS)
            if lm.prefix_proj is None:
                lm.prefix_proj = nn.Linear(weights["weight"].shape[1], weights["weight"].shape[0])
                lm.prefix_dim = weights["weight"].shape[1]
            lm.prefix_proj.load_state_dict(weights)
        return lm.to(device).eval()

    @classmethod
    def from_config(cls, hf_config, tokenizer=None, prefix_dim: int = 0) -> CausalLM:
        """A randomly initialised model from a transformers config (tests, training from scratch)."""
        transformers = optional_import("transformers")
        return cls(transformers.AutoModelForCausalLM.from_config(hf_config), tokenizer, prefix_dim)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the model (config.json + model.safetensors), tokenizer and prefix projection."""
        directory = Path(directory)
        self.model.save_pretrained(directory)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(directory)
        if self.prefix_proj is not None:
            save_file(
                {k: v.contiguous() for k, v in self.prefix_proj.state_dict().items()},
                directory / PREFIX_WEIGHTS,
            )
        return directory

    def new_cache(self, batch_size: int, max_len: int | None = None) -> HFCache:
        """An empty cache; transformers' dynamic cache grows as needed, so `max_len` is unused."""
        transformers = optional_import("transformers")
        device = self.model.get_input_embeddings().weight.device
        return HFCache(transformers.DynamicCache(config=self.model.config), batch_size, device)

    def forward(
        self,
        tokens: Tensor,
        *,
        prefix: Tensor | None = None,
        prefix_mask: Tensor | None = None,
        cache: HFCache | None = None,
        attention_mask: Tensor | None = None,
        position_ids: Tensor | None = None,
        attn_mask: Tensor | None = None,
        logits_to_keep: int = 0,
    ) -> Tensor:
        """Logits (B, T, V) of the token positions, or of the last `logits_to_keep` > 0; arguments as
        in `Transformer.hidden`."""
        B, T = tokens.shape
        device = tokens.device
        embeds = self.model.get_input_embeddings()(tokens)
        valid = (
            attention_mask
            if attention_mask is not None
            else torch.ones(B, T, dtype=torch.bool, device=device)
        )
        P = 0
        if prefix is not None:
            if self.prefix_proj is None:
                raise ValueError("this CausalLM has no prefix projection (prefix_dim = 0)")
            P = prefix.shape[1]
            embeds = torch.cat([self.prefix_proj(prefix.to(embeds.dtype)), embeds], 1)
            pmask = (
                prefix_mask if prefix_mask is not None else torch.ones(B, P, dtype=torch.bool, device=device)
            )
            valid = torch.cat([pmask.to(device), valid], 1)
        N = P + T
        past = cache.length if cache is not None else 0
        start = cache.position if cache is not None else 0
        if position_ids is None:
            position_ids = torch.arange(start, start + N, device=device).expand(B, N)
        full_valid = torch.cat([cache.valid, valid], 1) if cache is not None else valid
        if attn_mask is not None:
            mask = (attn_mask & full_valid[:, None, :]) | diagonal_mask(N, past + N, past, device)
            mask = mask[:, None]  # (B, 1, N, S): a 4-D boolean mask replaces the causal one
        else:
            mask = full_valid.long()
        kwargs = {self._cache_kw: cache.hf} if cache is not None else {}
        out = self.model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=cache is not None,
            logits_to_keep=logits_to_keep or N - P,
            **kwargs,
        )
        if cache is not None:
            cache.valid = full_valid
            cache.position += N
        return out.logits

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Next-token cross-entropy of a training batch, as `Transformer.loss` (`transformer.batch_loss`)."""
        return batch_loss(self, batch)

    def add_modality_tokens(
        self, names: Sequence[str] | None, descriptions: Sequence[str | Sequence[int]]
    ) -> list[int]:
        """Add tokens whose embeddings start as the mean embedding of their description.

        Args:
            names: token strings to add to the tokenizer (needed when a tokenizer is attached).
            descriptions: per new token, its description text (needs the tokenizer) or token ids.

        Returns:
            The ids of the new tokens.
        """
        desc_ids = [self._description_ids(d) for d in descriptions]
        rows = self.model.get_input_embeddings().weight.shape[0]
        if self.tokenizer is not None:
            if names is None or len(names) != len(descriptions):
                raise ValueError("give one name per description when the model has a tokenizer")
            self.tokenizer.add_tokens(list(names), special_tokens=True)
            new_ids = self.tokenizer.convert_tokens_to_ids(list(names))
        else:
            new_ids = list(range(rows, rows + len(descriptions)))
        size = max(rows, max(new_ids) + 1)
        self.model.resize_token_embeddings(size, mean_resizing=False)
        tables = [self.model.get_input_embeddings().weight]
        output = self.model.get_output_embeddings()
        if output is not None and output.weight is not tables[0]:
            tables.append(output.weight)
        with torch.no_grad():
            for table in tables:
                for new_id, ids in zip(new_ids, desc_ids, strict=True):
                    table[new_id] = table[torch.as_tensor(ids, device=table.device)].mean(0)
        log.info("added %d modality tokens (ids %d..%d)", len(new_ids), min(new_ids), max(new_ids))
        return list(new_ids)

    def _description_ids(self, description: str | Sequence[int]) -> list[int]:
        if isinstance(description, str):
            if self.tokenizer is None:
                raise ValueError("text descriptions need a tokenizer; pass token ids instead")
            ids = self.tokenizer(description, add_special_tokens=False)["input_ids"]
        else:
            ids = [int(i) for i in description]
        if not ids:
            raise ValueError(f"description {description!r} has no tokens")
        return ids
