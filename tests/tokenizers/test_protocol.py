"""The shared `Tokenizer` protocol: the SVG tokenizers satisfy it, an object missing a part does not."""

from gfx.svg.tokenizers.registry import TOKENIZERS
from gfx.tokenizers import Tokenizer


def test_every_registered_svg_tokenizer_is_a_tokenizer():
    for scheme, cls in TOKENIZERS.items():
        tokenizer = cls()
        assert isinstance(tokenizer, Tokenizer), scheme
        assert tokenizer.decode(tokenizer.encode(tokenizer.decode([tokenizer.bos_id, tokenizer.eos_id]))).elements == []


def test_an_object_without_a_grammar_is_not_a_tokenizer():
    class NoGrammar:
        scheme, vocab, descriptions = "x", ["<pad>"], {}
        pad_id = bos_id = eos_id = mask_id = eom_id = 0
        vocab_size = 1

        def encode(self, item):
            return [0]

        def decode(self, ids, strict=True):
            return None

        def is_valid(self, ids):
            return True

        def token_strings(self, ids):
            return []

        def fim_split(self, ids, start, end):
            return []

        def fim_join(self, ids):
            return []

        def to_dict(self):
            return {}

        def save(self, path):
            return path

    assert not isinstance(NoGrammar(), Tokenizer)
