"""Backbone options (issue "Language backbone II"): one line per option with what it was measured on, the
metric with and without it, and the test of its exactness claim.

    python -m bench.backbone_options [--options token-healing]
    python -m bench backbone_options

Every option is a function in `OPTIONS` that measures itself and returns an `OptionLine`; results go to
bench/results/backbone_options.json. CPU, one torch thread, each option well under a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from gfx.config import lookup
from gfx.runtime import set_threads

RESULTS = Path(__file__).parent / "results" / "backbone_options.json"


@dataclass(frozen=True)
class OptionLine:
    """One option's measurement: `metric` without and with the option on `measured_on`; `test` checks its
    exactness claim; `extra` holds further numbers for the json."""

    option: str
    measured_on: str
    metric: str
    without: float
    with_: float
    test: str
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        extra = "".join(f", {k} {v:.4g}" for k, v in self.extra.items())
        return (
            f"{self.option}: {self.metric} {self.without:.4g} without, {self.with_:.4g} with{extra} "
            f"| measured on {self.measured_on} | exactness test: {self.test}"
        )


def token_healing(
    steps: int = 150, prompts: int = 40, max_prompt_bytes: int = 14, seed: int = 0
) -> OptionLine:
    """Item 9: next-byte distribution after prompts that end mid-token, for a byte-level BPE LM over SVG
    path data (a tiny Llama trained for `steps` steps on corpus `d` strings; test-split prompts cut inside
    a token), against the exact marginal over every tokenization of the prompt."""
    import transformers
    from tokenizers import ByteLevelBPETokenizer

    from gfx.backbones.language import CausalLM
    from gfx.backbones.token_healing import ByteVocab, CoverTree, back_up
    from gfx.data.icons import load_icons
    from gfx.train import TrainConfig, train

    paths = {split: [] for split in ("train", "test")}
    for record in load_icons():
        if record.split in paths and len(paths[record.split]) < 3000:
            paths[record.split] += re.findall(r' d="([^"]+)"', record.svg)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        paths["train"], vocab_size=512, special_tokens=["<s>", "</s>"], show_progress=False
    )
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>"
    )
    bos, eos, length = tok.bos_token_id, tok.eos_token_id, 40
    rows = torch.full((len(paths["train"]), length), eos)
    for i, d in enumerate(paths["train"]):
        ids = [bos, *tok(d).input_ids][:length]
        rows[i, : len(ids)] = torch.tensor(ids)
    config = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(seed)
    lm = CausalLM.from_config(config, tok)
    g = torch.Generator().manual_seed(seed)
    batches = [rows[torch.randint(len(rows), (32,), generator=g)] for _ in range(steps)]

    def loss(model, batch):
        logits = model(batch[:, :-1])
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())

    result = train(
        lm, batches, TrainConfig(steps=steps, lr=3e-3, warmup_steps=20, eval_every=0), loss_fn=loss
    )
    lm.eval()
    vocab = ByteVocab.from_tokenizer(tok)

    def tv(p, q):
        return 0.5 * float((p - q).abs().sum())

    rng, scores = random.Random(seed), {"without": [], "plain": [], "with": []}
    for d in paths["test"]:
        text, spans, start = d.encode(), [], 0
        for t in tok(d).input_ids:  # tokens of the whole string that a cut inside the first bytes splits
            n = len(vocab.bytes[t])
            if n > 1 and start + n <= max_prompt_bytes:
                spans.append((start, n))
            start += n
        if not spans:
            continue
        start, n = rng.choice(spans)
        cut = text[: start + rng.randint(1, n - 1)]
        prompt = [bos, *tok(cut.decode()).input_ids]
        exact = CoverTree(lm, *back_up(prompt, vocab, None), vocab).next_byte_probs()
        healed = CoverTree(lm, *back_up(prompt, vocab, 1), vocab)
        scores["without"].append(tv(CoverTree(lm, prompt, b"", vocab).next_byte_probs(), exact))
        scores["plain"].append(tv(healed.next_byte_probs(local=True), exact))
        scores["with"].append(tv(healed.next_byte_probs(), exact))
        if len(scores["with"]) == prompts:
            break
    mean = {k: sum(v) / len(v) for k, v in scores.items()}
    return OptionLine(
        option="9 token healing (exact, back=1)",
        measured_on=f"{len(scores['with'])} test-split path-data prompts cut mid-token, byte-level BPE "
        f"(V={len(tok)}) Llama 2x32 trained {steps} steps (loss {result.train_loss:.2f})",
        metric="next-byte TV to the exact marginal",
        without=mean["without"],
        with_=mean["with"],
        test="tests/backbones/test_token_healing.py::test_healed_next_byte_is_the_exact_marginal",
        extra={"plain masking (back=1)": mean["plain"]},
    )


OPTIONS = {"token-healing": token_healing}
"""Option name -> measurement."""


def main(argv: list[str] | None = None) -> list[OptionLine]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.backbone_options", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--options", default=",".join(OPTIONS), help=f"comma-separated subset of {list(OPTIONS)}"
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args([] if argv is None else argv)
    set_threads(1)
    lines = []
    for name in args.options.split(","):
        start = time.process_time()
        lines.append(lookup(OPTIONS, name, "backbone option")())
        print(f"{lines[-1]}  [{time.process_time() - start:.0f} s]", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps([asdict(line) for line in lines], indent=2) + "\n")
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
