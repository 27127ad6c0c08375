"""The real CLIP BPE tokenizer built offline from its merge list (`assets/clip-bpe/`), with the ids of the
tokenizers of Stable Diffusion 1.x checkpoints: "a cat" -> [49406, 320, 2368, 49407].

    tokenizer = clip_tokenizer("assets/clip-bpe/bpe_simple_vocab_16e6.txt.gz", max_length=16)
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

VOCAB_SIZE = 49408
MERGES = VOCAB_SIZE - 256 - 256 - 2
"""CLIP keeps the first 48,894 merges: 256 byte symbols, their 256 end-of-word forms and 2 specials fill the rest."""


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP's reversible byte -> printable character table."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    chars, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def clip_tokenizer(bpe_path: str | Path, max_length: int = 77):
    """A `transformers.CLIPTokenizer` from CLIP's gzipped merge list, padding with `<|endoftext|>` to `max_length`."""
    from transformers import CLIPTokenizer

    lines = gzip.decompress(Path(bpe_path).read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : MERGES + 1]]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = Path(tmp) / "vocab.json", Path(tmp) / "merges.txt"
        vocab_file.write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
        merges_file.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=max_length)
