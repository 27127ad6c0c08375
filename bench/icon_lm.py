"""Small unconditional icon LMs for the backbone-option measurements (bench/backbone_options.py): corpus
icons as PathTokenizer sequences, a fixed-budget training run of a `Transformer`, and its held-out loss.

    tok = PathTokenizer(PathTokenizerConfig(grid=97))
    seqs = icon_sequences(tok, "train", limit=4000, max_tokens=128)
    model = train_lm(path_lm(tok, width=64, n_layer=2), seqs, steps=600, seed=0)
    loss, accuracy = heldout(model, val_seqs, targets=is_point)

`palette_recall` builds the in-context task of the lexinvariant-ID measurement; `cached_decode_seconds` times
decoding through the KV cache (SkipDecode's measurement).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from gfx.backbones.transformer import Transformer, next_token_loss
from gfx.svg.tokenizers.vocab import MASK_ID, PAD_ID


def icon_sequences(tokenizer, split: str, limit: int, max_tokens: int) -> list[np.ndarray]:
    """The first `limit` corpus icons of `split` that encode to at most `max_tokens` ids: (L,) int64 each."""
    from gfx.data.icons import load_icons
    from gfx.recipes.iconshop_data import encode_records

    out = []
    records = load_icons(split=split)
    for start in range(0, len(records), 500):
        out += [ids for ids in encode_records(records[start : start + 500], tokenizer) if len(ids) <= max_tokens]
        if len(out) >= limit:
            break
    return out[:limit]


def path_lm(tokenizer, width: int = 64, n_layer: int = 2, max_seq_len: int = 128, **config) -> Transformer:
    """A fresh `Transformer` over a `PathTokenizer`'s ids with IconShop's x/y coordinate tables (`n_head` 2
    unless `config` says otherwise; other `TransformerConfig` fields in `config`)."""
    from gfx.backbones.transformer import TransformerConfig

    config = TransformerConfig(**{"vocab_size": tokenizer.vocab_size, "d_model": width, "n_layer": n_layer,
                                  "n_head": 2, "max_seq_len": max_seq_len,
                                  "extra_vocab_sizes": (tokenizer.lattice, tokenizer.lattice), **config})
    model = Transformer(config)
    model.set_token_extra_ids(torch.from_numpy(tokenizer.point_xy(np.arange(tokenizer.vocab_size))))
    return model


def pad(seqs: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """A batch: "tokens" (B, T) long padded with PAD_ID on the right, "attention_mask" (B, T) bool."""
    width = max(len(s) for s in seqs)
    tokens = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.as_tensor(s)
    mask = torch.arange(width)[None, :] < torch.tensor([len(s) for s in seqs])[:, None]
    return {"tokens": tokens, "attention_mask": mask, "loss_mask": mask}


def train_lm(
    model: Transformer,
    seqs: Sequence[np.ndarray],
    steps: int,
    seed: int,
    batch_size: int = 16,
    lr: float = 3e-3,
    callback: Callable | None = None,
    loss_fn: Callable | None = None,
) -> Transformer:
    """Train `model` for `steps` steps on random batches of `seqs` (the batch order depends only on
    `seed`, so two models trained with one seed see the same batches); `callback` gets each step's
    `gfx.train.Progress`; `loss_fn(model, batch)` replaces next-token loss."""
    from gfx.train import TrainConfig, train

    rng = np.random.default_rng(seed)
    batches = [pad([seqs[i] for i in rng.integers(len(seqs), size=batch_size)]) for _ in range(steps)]
    config = TrainConfig(steps=steps, lr=lr, warmup_steps=steps // 10, eval_every=0, log_every=10**9, seed=seed)
    train(model, batches, config, callback=callback, loss_fn=loss_fn)
    return model.eval()


@torch.no_grad()
def heldout(
    model: Transformer,
    seqs: Sequence[np.ndarray],
    targets: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    choices: range | None = None,
) -> tuple[float, float]:
    """Mean next-token cross-entropy and greedy accuracy over every target token of `seqs`, or over those
    `targets(tokens)` ((B, T) long -> (B, T) bool) marks; the accuracy's argmax runs over the token ids
    `choices` (default all). Lexinvariant ids are drawn from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    total, correct, count = 0.0, 0, 0
    for start in range(0, len(seqs), batch_size):
        batch = pad(seqs[start : start + batch_size])
        tokens = batch["tokens"]
        mask = batch["loss_mask"] if targets is None else batch["loss_mask"] & targets(tokens)
        n = int(mask[:, 1:].sum())
        if not n:
            continue
        if model.lexinvariant is not None:
            model.lexinvariant.draw(len(tokens), generator)
        logits = model(tokens, attention_mask=batch["attention_mask"])
        total += float(next_token_loss(logits, tokens, mask)) * n
        first = choices.start if choices is not None else 0
        scores = logits[:, :-1] if choices is None else logits[:, :-1, choices.start : choices.stop]
        correct += int((scores.argmax(-1) + first == tokens[:, 1:])[mask[:, 1:]].sum())
        count += n
    return total / count, correct / count


@torch.no_grad()
def cached_decode_seconds(model: Transformer, seqs: Sequence[np.ndarray]) -> float:
    """CPU seconds per token of feeding each of `seqs` through the KV cache one token at a time (batch 1), as
    decoding does; teacher-forced, so every model decodes the same tokens at the same positions."""
    from bench.timing import timed
    from gfx.backbones.decoding import decode_step

    def run():
        for s in seqs:
            cache = model.new_cache(1, len(s))
            for token in torch.as_tensor(s).view(-1, 1, 1):  # (1, 1) each
                decode_step(model, token, cache)

    return timed(run)[0] / sum(len(s) for s in seqs)


def palette_recall(
    tokenizer, icons: Sequence[np.ndarray], labels: Sequence[int], seed: int, max_elements: int = 6
) -> list[np.ndarray]:
    """The palette-recall task on icons of 2..`max_elements` path elements: every element, its closing Z
    dropped, is followed by a palette label (distinct within the icon, drawn from `labels`); after a
    `<mask>` the elements come again in a shuffled order, each followed by its label, which only the
    first pass tells (the element's last point, which precedes the label in both passes, is the key):

        <bos> E1 <c5> E2 <c9> E3 <c2> <mask> E2 <c9> E3 <c2> E1 <c5> <eos>

    Returns:
        one (L,) int64 sequence per icon that has 2..max_elements elements.
    """
    rng = np.random.default_rng(seed)
    paints = np.isin(np.arange(tokenizer.vocab_size), tokenizer.paint_ids)
    out = []
    for ids in icons:
        body = ids[1:-1]
        starts = np.flatnonzero(paints[body])
        if not 2 <= len(starts) <= max_elements:
            continue
        close = tokenizer.command_ids["Z"]
        elements = [e[:-1] if e[-1] == close else e for e in np.split(body, starts[1:])]
        palette = rng.choice(labels, size=len(elements), replace=False)
        order = rng.permutation(len(elements))
        first = [t for e, c in zip(elements, palette, strict=True) for t in (*e, c)]
        again = [t for i in order for t in (*elements[i], palette[i])]
        out.append(np.asarray([ids[0], *first, MASK_ID, *again, ids[-1]], dtype=np.int64))
    return out
