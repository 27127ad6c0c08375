"""Shared test setup: one torch thread, no network, small seeded fixtures."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

STROKE_ICON = """<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" fill="none"
 stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
 <path stroke="none" d="M0 0h24v24H0z" fill="none"/>
 <path d="M5 12l-2 0l9 -9l9 9l-2 0" /><path d="M5 12v7a2 2 0 0 0 2 2h10a2 2 0 0 0 2 -2v-7" />
 <circle cx="12" cy="14" r="2"/></svg>"""

FILLED_ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill-rule="evenodd"
 d="M12 2A10 10 0 1 0 12 22A10 10 0 1 0 12 2ZM12 7A5 5 0 1 1 12 17A5 5 0 1 1 12 7Z"/></svg>"""


@pytest.fixture
def stroke_icon() -> str:
    """A Tabler-style stroke icon (round caps and joins, an invisible bounding box path)."""
    return STROKE_ICON


@pytest.fixture
def filled_icon() -> str:
    """A filled ring drawn with the even-odd rule."""
    return FILLED_ICON


@pytest.fixture(scope="session")
def tiny_layout_dir(tmp_path_factory):
    """A randomly initialised tiny SVGCraft layout model, saved (its layouts are valid, not good)."""
    import torch

    from gfx.svg.svgcraft import SVGCraftLayout, SVGCraftLayoutConfig

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("layout")
    SVGCraftLayout.build(SVGCraftLayoutConfig.from_name("tiny")).save_pretrained(directory)
    return directory


def save_tiny_causal_lm(directory, texts, seed: int = 0, vocab_size: int = 300) -> int:
    """Save a randomly initialised tiny transformers Llama with a byte-level BPE tokenizer built from `texts`
    (eos `</s>`) as a local causal-LM directory, the layout a user's pretrained model has; returns the
    tokenizer's size."""
    import torch

    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    from gfx.backbones.language import CausalLM

    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts) * 10, vocab_size=vocab_size, special_tokens=["<s>", "</s>"],
                            show_progress=False)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>",
                                                     eos_token="</s>")
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, initializer_range=0.5,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(seed)
    CausalLM.from_config(config, tokenizer).save_pretrained(directory)
    return len(tokenizer)
