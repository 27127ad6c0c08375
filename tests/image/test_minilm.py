"""The frozen MiniLM text encoder of a `ShapesDiffusionPipeline`: masking, eval mode, save and load."""

import json

import numpy as np
import torch

from gfx.image.minilm import FrozenMiniLM
from gfx.image.pipeline import ShapesDiffusionPipeline


def test_states_do_not_depend_on_padding_and_dropout_stays_off(minilm_pipe):
    encoder, tokenizer = minilm_pipe.text_encoder, minilm_pipe.tokenizer
    encoder.train()
    assert not encoder.training and not encoder.model.training
    short = tokenizer(["a red circle"], return_tensors="pt").input_ids  # (1, 5)
    padded = tokenizer(["a red circle"], padding="max_length", max_length=24, return_tensors="pt").input_ids
    a, b = encoder(short)[0], encoder(padded)[0]
    assert b.shape == (1, 24, FrozenMiniLM.width)
    torch.testing.assert_close(a[0], b[0, :5], atol=1e-5, rtol=0)
    assert not any(p.requires_grad for p in encoder.parameters())


def test_saved_pipeline_leaves_the_encoder_out_and_loads_it_back(minilm_pipe, tmp_path):
    minilm_pipe.save_half(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["text_encoder"] == [None, None] and index["frozen_text_encoder"] == FrozenMiniLM.NAME
    assert not (tmp_path / "text_encoder").exists()
    assert minilm_pipe.text_encoder.dtype == torch.float32  # save_half leaves the frozen weights alone
    loaded = ShapesDiffusionPipeline.from_pretrained(tmp_path, local_files_only=True)
    assert isinstance(loaded.text_encoder, FrozenMiniLM)
    before = minilm_pipe("a red circle", seed=0, steps=2)[0].image.astype(int)
    after = loaded("a red circle", seed=0, steps=2)[0].image.astype(int)
    assert np.abs(before - after).max() <= 2  # the UNet went through float16
