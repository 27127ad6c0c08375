"""Backbone options (issue "Language backbone II"): one line per option with what it was measured on, the
metric with and without it, and the test of its exactness claim.

    python -m bench.backbone_options [--options token-healing] [--recompute]
    python -m bench.backbone_options --results     # print the recorded lines, measuring nothing
    python -m bench backbone_options

Every option is a function in `OPTIONS` that measures itself and returns an `OptionLine`; results go to
bench/results/backbone_options.json. CPU, one torch thread. Measurements that train several models
(minutes each) are kept in .cache/backbone_options/<option>.json and printed from there; `--recompute`
measures again (also after changing an option's defaults). Running a subset keeps the other options' lines
in the json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from gfx.config import lookup
from gfx.runtime import set_threads

RESULTS = Path(__file__).parent / "results" / "backbone_options.json"
CACHE = Path(__file__).parents[1] / ".cache" / "backbone_options"


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


def coordinate_embeddings(steps: int = 800, seeds: tuple[int, ...] = (0, 1), grid: int = 49) -> OptionLine:
    """Item 7: held-out next-token loss of an unconditional icon LM (IconShop's tokens and x/y coordinate
    tables at `grid`, width 64, 2 layers) after `steps` steps with learned x/y tables against fixed Fourier
    features plus a learned residual; same parameters, batches and seeds."""
    from bench.icon_lm import heldout, icon_sequences, path_lm, train_lm
    from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig

    tok = PathTokenizer(PathTokenizerConfig(grid=grid))
    train_seqs = icon_sequences(tok, "train", 4000, 128)
    val_seqs = icon_sequences(tok, "val", 400, 128)
    xy = torch.from_numpy(tok.point_xy(np.arange(tok.vocab_size)))

    def is_point(tokens):
        return xy[tokens][..., 0] >= 0

    losses, points = {"learned": [], "fourier": []}, {"learned": [], "fourier": []}
    for seed in seeds:
        for kind in losses:
            torch.manual_seed(seed)
            model = train_lm(path_lm(tok, coordinate_embedding=kind), train_seqs, steps, seed)
            losses[kind].append(heldout(model, val_seqs)[0])
            points[kind].append(heldout(model, val_seqs, is_point)[0])
    params = sum(p.numel() for p in model.parameters())
    return OptionLine(
        option="7 structured coordinate embeddings (fourier)",
        measured_on=f"unconditional icon LM, PathTokenizer grid {grid} (V={tok.vocab_size}), 64x2, {params:,} "
        f"params, {len(train_seqs)} train icons, {steps} steps x 16, seeds {list(seeds)}; "
        f"{len(val_seqs)} val icons",
        metric="val loss (mean over seeds)",
        without=float(np.mean(losses["learned"])),
        with_=float(np.mean(losses["fourier"])),
        test="tests/backbones/test_coordinate_embedding.py::test_features_are_fixed_and_residual_starts_at_zero",
        extra={**spread(losses), **{f"point-token {k}": v for k, v in spread(points).items()}},
    )


def lexinvariant_ids(steps: int = 1000, seeds: tuple[int, ...] = (0, 1), labels: int = 32) -> OptionLine:
    """Item 8: palette recall (`bench.icon_lm.palette_recall`) on icons at grid 25: accuracy of the second
    pass's labels (argmax over the palette), which only the first pass tells, for a 64x2 model with learned
    label embeddings against lexinvariant ones. Training labels come from the first half of the palette; "held-out labels" tests
    with the second half, which the learned model never saw."""
    from bench.icon_lm import heldout, icon_sequences, palette_recall, train_lm
    from gfx.backbones.transformer import Transformer, TransformerConfig
    from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig
    from gfx.svg.tokenizers.vocab import MASK_ID

    tok = PathTokenizer(PathTokenizerConfig(grid=25))
    first, vocab = tok.vocab_size, tok.vocab_size + labels
    palette, seen, unseen = range(first, vocab), range(first, first + labels // 2), range(first + labels // 2, vocab)
    train_icons, val_icons = icon_sequences(tok, "train", 4000, 90), icon_sequences(tok, "val", 600, 90)

    def recalled(tokens):
        return (tokens >= first) & (torch.cumsum(tokens == MASK_ID, dim=1) > 0)

    accuracy = {"learned": [], "lexinvariant": []}
    unseen_accuracy = {"learned": [], "lexinvariant": []}
    for seed in seeds:
        train_seqs = palette_recall(tok, train_icons, seen, seed)
        val_seen = palette_recall(tok, val_icons, seen, 1000 + seed)
        val_unseen = palette_recall(tok, val_icons, unseen, 1000 + seed)
        for kind in accuracy:
            torch.manual_seed(seed)
            config = TransformerConfig(vocab_size=vocab, d_model=64, n_layer=2, n_head=4, max_seq_len=256,
                                       lexinvariant_ids=(first, vocab) if kind == "lexinvariant" else ())
            model = train_lm(Transformer(config), train_seqs, steps, seed)
            accuracy[kind].append(heldout(model, val_seen, recalled, choices=palette)[1])
            unseen_accuracy[kind].append(heldout(model, val_unseen, recalled, choices=palette)[1])
    chance = float(np.mean([1 / ((s >= first).sum() // 2) for s in val_seen]))
    return OptionLine(
        option="8 lexinvariant ID tokens (palette labels)",
        measured_on=f"palette recall on {len(train_seqs)} train / {len(val_seen)} val icons (grid 25, 2-6 "
        f"elements, {labels} labels, training on {labels // 2}), 64x2, {steps} steps x 16, seeds {list(seeds)}",
        metric="second-pass label accuracy among the palette (mean over seeds)",
        without=float(np.mean(accuracy["learned"])),
        with_=float(np.mean(accuracy["lexinvariant"])),
        test="tests/backbones/test_lexinvariant.py::test_output_is_invariant_to_a_permutation_of_the_id_labels",
        extra={**spread(accuracy), **{f"held-out labels {k}": v for k, v in spread(unseen_accuracy).items()},
               "chance (1 / elements)": chance},
    )


def vocabulary_migration(steps: int = 60, every: int = 20, grid: int = 193, icons: int = 120) -> OptionLine:
    """Item 1: models/iconshop-mini (grid 97) moved to a finer lattice (`grid`: every old value kept, the
    points between them new) by each `lattice_migration.INITS` rule; unconditional val loss at the new
    lattice before training and every `every` steps of fine-tuning (batch 8, lr 2e-4, seed 0, the same
    batches for every init); inf: not reached within `steps`."""
    from bench.icon_lm import heldout, icon_sequences, train_lm
    from gfx.svg.iconshop import IconShop
    from gfx.svg.lattice_migration import INITS, migrate_lattice
    from gfx.svg.tokenizers.path import PathTokenizer

    pipe = IconShop.from_pretrained(Path(__file__).parents[1] / "models" / "iconshop-mini")
    model, old_tok = pipe.model.float(), pipe.tokenizer
    reference = heldout(model, icon_sequences(old_tok, "val", icons, 160), batch_size=8)[0]
    tok = PathTokenizer(dataclasses.replace(old_tok.config, grid=grid))
    train_seqs, val_seqs = icon_sequences(tok, "train", 3000, 160), icon_sequences(tok, "val", icons, 160)
    curves = {}
    for init in INITS:
        torch.manual_seed(0)
        new, _ = migrate_lattice(model, old_tok, grid, init)
        curve = curves[init] = [heldout(new, val_seqs, batch_size=8)[0]]

        def evaluate(progress, new=new, curve=curve):
            if progress.step % every == 0:
                curve.append(heldout(new, val_seqs, batch_size=8)[0])

        train_lm(new, train_seqs, steps, seed=0, batch_size=8, lr=2e-4, callback=evaluate)
    after = {f"{init} after {steps} steps": curve[-1] for init, curve in curves.items()}
    target = curves["interpolate"][0]
    catch_up = {f"steps for {init} to reach interpolate's start": next(
        (i * every for i, loss in enumerate(curve) if loss <= target), float("inf"))
        for init, curve in curves.items() if init != "interpolate"}
    return OptionLine(
        option="1 vocabulary migration (neighbour-bin interpolation / OMP)",
        measured_on=f"models/iconshop-mini moved from grid 97 (V={old_tok.vocab_size}) to {grid} "
        f"(V={tok.vocab_size}), {len(val_seqs)} val icons unconditional, fine-tuned on {len(train_seqs)} train icons",
        metric="val loss before training, zero init -> interpolation",
        without=curves["zero"][0],
        with_=curves["interpolate"][0],
        test="tests/backbones/test_vocab.py::test_neighbour_bin_interpolation_is_exact_on_a_linear_embedding, "
        "tests/backbones/test_vocab.py::test_omp_reconstructs_a_row_that_is_a_sparse_combination_of_anchors",
        extra={"grid 97 val loss": reference, **{f"{init} before": c[0] for init, c in curves.items()}, **after,
               **catch_up},
    )


def skip_decode(pretrain_steps: int = 1200, tune_steps: int = 200, n_layer: int = 8, stop: int = 64) -> OptionLine:
    """Item 5: SkipDecode's speed / quality curve. An unconditional icon LM (PathTokenizer grid 49, width 64,
    `n_layer` layers) trained `pretrain_steps` steps at full depth (kept in .cache/backbone_options), then
    fine-tuned `tune_steps` steps (lr 1e-3, the same batches) from it under each schedule: full depth, and depth
    falling linearly from `n_layer` at the first token to half or a quarter at token `stop`, in both modes. Per
    schedule: val loss before and after the fine-tune, layers per val token, and CPU seconds per token of cached
    decoding of 24 val icons (best of 3 interleaved rounds; ratio to full depth)."""
    from bench.icon_lm import cached_decode_seconds, heldout, icon_sequences, train_lm
    from gfx.backbones.skip_decode import with_skip_decode
    from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig

    tok = PathTokenizer(PathTokenizerConfig(grid=49))
    train_seqs, val_seqs = icon_sequences(tok, "train", 4000, 128), icon_sequences(tok, "val", 400, 128)
    start = cached_lm(f"skip-decode-start-{n_layer}x64-{pretrain_steps}", tok, train_seqs, pretrain_steps,
                      n_layer=n_layer)
    schedules = {"full": ((), "exit")} | {
        f"{mode} {n_layer}->{n_layer // k}": ((n_layer // k, 0, stop), mode) for mode in ("exit", "skip") for k in (2, 4)
    }
    models, points = {}, {}
    positions = torch.cat([torch.arange(len(s)) for s in val_seqs])
    for name, (schedule, mode) in schedules.items():
        model = with_skip_decode(start, schedule, mode)
        before = heldout(model, val_seqs)[0]
        models[name] = train_lm(model, train_seqs, tune_steps, seed=1, lr=1e-3)
        layers = n_layer if model.skip is None else float(model.skip.depth(positions).float().mean())
        points[name] = {"before": before, "after": heldout(model, val_seqs)[0], "layers/token": layers}
    seconds = {name: float("inf") for name in models}
    for _ in range(3):
        for name, model in models.items():
            seconds[name] = min(seconds[name], cached_decode_seconds(model, val_seqs[:24]))
    extra = {f"{name} {k}": v for name, point in points.items() for k, v in point.items()}
    extra |= {f"{name} s/token vs full": seconds[name] / seconds["full"] for name in models}
    extra["full s/token"] = seconds["full"]
    params = sum(p.numel() for p in start.parameters())
    return OptionLine(
        option="5 SkipDecode (skip to half depth)",
        measured_on=f"unconditional icon LM, PathTokenizer grid 49, 64x{n_layer}, {params:,} params, "
        f"{pretrain_steps} steps full depth then {tune_steps} steps under each schedule (depth {n_layer} at "
        f"token 0 -> half or quarter at token {stop}), {len(train_seqs)} train / {len(val_seqs)} val icons",
        metric="val loss after the same fine-tune, full depth -> skip to half",
        without=points["full"]["after"],
        with_=points[f"skip {n_layer}->{n_layer // 2}"]["after"],
        test="tests/backbones/test_skip_decode.py::test_cached_step_by_step_decoding_matches_the_full_forward",
        extra=extra,
    )


def fim_baseline(tok, train_seqs, steps: int, seed: int):
    """IconShop's FIM icon LM (64x2, PathTokenizer ids) trained `steps` steps with `seed`, kept in
    .cache/backbone_options (the any-subset and insertion lines share it)."""
    from bench.icon_infill import fim_sequences
    from bench.icon_lm import path_lm, train_lm

    torch.manual_seed(seed)
    model = path_lm(tok, max_seq_len=136)
    weights = CACHE / f"fim-{tok.config.grid}-64x2-{steps}-seed{seed}.pt"
    if weights.exists():
        model.load_state_dict(torch.load(weights))
        return model.eval()
    train_lm(model, fim_sequences(tok, train_seqs, seed), steps, seed)
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    return model


def infill_data(problems: int):
    """The infill lines' data: the grid-49 PathTokenizer, 4,000 train icons and one span problem per val icon."""
    from bench.icon_infill import infill_problems
    from bench.icon_lm import icon_sequences
    from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig

    tok = PathTokenizer(PathTokenizerConfig(grid=49))
    tasks = infill_problems(tok, icon_sequences(tok, "val", problems, 128), seed=0)
    return tok, icon_sequences(tok, "train", 4000, 128), tasks


def trained_infiller(tok, train_seqs, steps: int, seed: int, objective):
    """A 64x2 path LM trained `steps` steps on `objective(model, tokens, valid, rng)`, its rng seeded by `seed`."""
    from bench.icon_lm import path_lm, train_lm

    rng = np.random.default_rng(seed)

    def loss(model, batch):
        return objective(model, batch["tokens"], batch["attention_mask"], rng)

    torch.manual_seed(seed)
    return train_lm(path_lm(tok), train_seqs, steps, seed, loss_fn=loss)


def any_subset(steps: int = 1000, seeds: tuple[int, ...] = (0, 1), problems: int = 100, drafts=(4, 16)) -> OptionLine:
    """Item 2: infilling one span of whole path elements per val icon (`bench.icon_infill`), IconShop's FIM
    against an any-subset model (AS-ARM) of the same size and steps (64x2, grid 49), sampled in order and by
    ASSD with `drafts` tokens drafted per round; one sample per problem at temperature 1, per seed. The AS-ARM
    trains on element spans half of the time and on uniformly random subsets otherwise; it is told the span's
    length (its positions), FIM is not."""
    from bench.icon_infill import (
        InfillScore,
        any_subset_fill,
        fim_infill,
        fim_span_nll,
        timed_infills,
        training_masks,
    )
    from gfx.backbones.any_subset import any_subset_loss, log_prob, sample_assd, sample_in_order
    from gfx.svg.tokenizers.vocab import MASK_ID

    def objective(model, tokens, valid, rng):
        return any_subset_loss(model, tokens, training_masks(tok, tokens, valid, rng), MASK_ID, valid)

    tok, train_seqs, tasks = infill_data(problems)
    span_tokens = sum(p.end - p.start for p in tasks)
    nll, scores = {}, {}
    for seed in seeds:
        fim = fim_baseline(tok, train_seqs, steps, seed)
        asarm = trained_infiller(tok, train_seqs, steps, seed, objective)
        with torch.no_grad():
            spans = [fim_span_nll(fim, tok, p) for p in tasks]
            nll.setdefault("FIM span", []).append(sum(s for s, _ in spans) / span_tokens)
            nll.setdefault("FIM span + EOM", []).append(sum(e for _, e in spans) / span_tokens)
            nll.setdefault("AS-ARM span given its length", []).append(-sum(
                float(log_prob(asarm, torch.from_numpy(p.ids)[None], p.masked, MASK_ID)) for p in tasks) / span_tokens)

        methods = {"FIM": partial(fim_infill, fim, tok), "AS-ARM in order": any_subset_fill(sample_in_order, asarm)}
        methods |= {f"ASSD draft {k}": any_subset_fill(sample_assd, asarm, draft=k) for k in drafts}
        for name, fill in methods.items():
            score = InfillScore.of(tok, tasks, *timed_infills(fill, tasks, seed))
            scores.setdefault(name, []).append(score)
    extra = {f"nll/token {k}": v for k, v in spread(nll).items()}
    for name, runs in scores.items():
        extra |= spread({f"{name} {k}": [getattr(r, k) for r in runs] for k in ("valid", "mse", "passes", "seconds")})
    best = f"ASSD draft {drafts[-1]}"
    return OptionLine(
        option="2 any-subset AR + ASSD (infill)",
        measured_on=f"{len(tasks)} val icons, one span of whole path elements each ({span_tokens / len(tasks):.1f} "
        f"tokens on average), PathTokenizer grid 49, 64x2 models trained {steps} steps x 16 on {len(train_seqs)} "
        f"icons, seeds {list(seeds)}, one sample per problem at temperature 1",
        metric="render MSE of the infilled icon to the original, FIM -> ASSD",
        without=float(np.mean([s.mse for s in scores["FIM"]])),
        with_=float(np.mean([s.mse for s in scores[best]])),
        test="tests/backbones/test_any_subset.py::test_sequential_and_assd_sample_the_exact_joint_and_a_biased_rule_is_caught",
        extra=extra,
    )


def insertion(steps: int = 1000, seeds: tuple[int, ...] = (0, 1), problems: int = 100) -> OptionLine:
    """Item 3: the any-subset line's problems (one span of whole path elements per val icon, its length unknown to
    both models) filled by IconShop's FIM and by an insertion LM (ILM) of the same size and steps (64x2, grid 49,
    bidirectional), trained to insert dropped tokens back (`bench.icon_infill.insertion_drops`); one sample per
    problem at temperature 1, per seed."""
    from bench.icon_infill import (
        InfillScore,
        fim_infill,
        insertion_drops,
        insertion_fill,
        timed_infills,
    )
    from gfx.backbones.insertion import insertion_loss
    from gfx.svg.tokenizers.vocab import EOM_ID

    def objective(model, tokens, valid, rng):
        return insertion_loss(model, tokens, insertion_drops(tok, tokens, valid, rng), EOM_ID, valid)

    tok, train_seqs, tasks = infill_data(problems)
    scores = {}
    for seed in seeds:
        fim = fim_baseline(tok, train_seqs, steps, seed)
        ilm = trained_infiller(tok, train_seqs, steps, seed, objective)
        for name, fill in {"FIM": partial(fim_infill, fim, tok), "ILM": partial(insertion_fill, ilm)}.items():
            scores.setdefault(name, []).append(InfillScore.of(tok, tasks, *timed_infills(fill, tasks, seed)))
    extra = {}
    for name, runs in scores.items():
        extra |= spread({f"{name} {k}": [getattr(r, k) for r in runs]
                         for k in ("valid", "mse", "length_error", "passes", "seconds")})
    return OptionLine(
        option="3 insertion LM (variable-length infill)",
        measured_on=f"{len(tasks)} val icons, one span of whole path elements each "
        f"({sum(p.end - p.start for p in tasks) / len(tasks):.1f} tokens on average, length not given), "
        f"PathTokenizer grid 49, 64x2 models trained {steps} steps x 16 on {len(train_seqs)} icons, seeds "
        f"{list(seeds)}, one sample per problem at temperature 1",
        metric="render MSE of the infilled icon to the original, FIM -> ILM",
        without=float(np.mean([s.mse for s in scores["FIM"]])),
        with_=float(np.mean([s.mse for s in scores["ILM"]])),
        test="tests/backbones/test_insertion.py::test_the_loss_targets_the_dropped_multiset_per_slot_and_stop_when_"
        "nothing_is_missing",
        extra=extra,
    )


def toolken_macros(steps: int = 600, train_icons: int = 3000, val_icons: int = 300, prompts: int = 40,
                   max_tokens: int = 200) -> OptionLine:
    """Item 4: ToolkenGPT macro tokens on the frozen models/iconshop-mini: <circle> <rrect> <mirror> <repeat>
    (`gfx.svg.macros`) added as 4 rows (initialised from M's), only those rows trained `steps` steps (batch 16,
    lr 1e-2, no weight decay) on compressed train icons with prompts of their first 4 keywords. Measured on val
    icons with their prompts: tokens per icon and the negative log-likelihood of the whole icon (nats per icon,
    plain tokens under the plain model vs compressed tokens under the macro model). Then `prompts` val prompts are
    sampled once each (seed = the prompt's index, guidance 2, top-p 0.5, the grammar with or without macros, no
    zero-length segments): tokens per icon, CPU seconds per icon and the IconCLIP evaluator score of the
    (expanded) icons."""
    from bench.timing import timed
    from gfx.backbones.constraints import BanningConstraint, Grammar
    from gfx.backbones.decoding import generate
    from gfx.backbones.guidance import Guidance
    from gfx.backbones.sampling import SamplingConfig
    from gfx.backbones.toolken import train_new_rows_only, with_new_tokens
    from gfx.backbones.transformer import next_token_loss
    from gfx.data.icons import load_icons
    from gfx.models import model_path
    from gfx.recipes.iconshop_data import encode_records, keywords_of
    from gfx.svg.core.serialize import to_svg
    from gfx.svg.icon_clip import IconCLIP
    from gfx.svg.iconshop import IconShop
    from gfx.svg.macros import MACROS, PathMacros
    from gfx.svg.tokenizers.vocab import BOS_ID, EOS_ID, PAD_ID
    from gfx.train import TrainConfig, train

    pipe = IconShop.from_pretrained(Path(__file__).parents[1] / "models" / "iconshop-mini")
    plain, tok = pipe.model.float(), pipe.tokenizer
    macros = PathMacros(tok)

    def icons(split, limit):
        records = load_icons(split=split)[: 3 * limit]
        pairs = [(ids, ", ".join(keywords_of(r)[:4])) for r, ids in zip(records, encode_records(records, tok), strict=True)
                 if len(ids) <= max_tokens]
        return [(ids.tolist(), macros.compress(ids), prompt) for ids, prompt in pairs[:limit]]

    train_set, val_set = icons("train", train_icons), icons("val", val_icons)

    def batch(rows):
        width = max(len(r) for r, _ in rows)
        tokens = torch.full((len(rows), width), PAD_ID)
        for i, (ids, _) in enumerate(rows):
            tokens[i, : len(ids)] = torch.tensor(ids)
        prefix, prefix_mask = pipe.encode_prompt(*(p for _, p in rows))
        mask = tokens != PAD_ID
        return {"tokens": tokens, "attention_mask": mask, "loss_mask": mask, "prefix": prefix, "prefix_mask": prefix_mask}

    @torch.no_grad()
    def nats_per_icon(model, rows):
        total = []
        for start in range(0, len(rows), 32):
            b = batch(rows[start : start + 32])
            logits = model(b["tokens"], prefix=b["prefix"], prefix_mask=b["prefix_mask"], attention_mask=b["attention_mask"])
            for i in range(len(logits)):
                n = int(b["loss_mask"][i, 1:].sum())
                total.append(float(next_token_loss(logits[i : i + 1], b["tokens"][i : i + 1], b["loss_mask"][i : i + 1])) * n)
        return np.asarray(total)

    m_row = plain.embed.weight[tok.command_ids["M"]].detach()
    model = with_new_tokens(plain, m_row.expand(len(MACROS), -1).clone())
    before = nats_per_icon(model, [(short, p) for _, short, p in val_set])
    train_new_rows_only(model, tok.vocab_size)
    rng = np.random.default_rng(0)
    batches = (batch([train_set[i][1:] for i in rng.integers(len(train_set), size=16)]) for _ in range(steps))
    train(model, lambda epoch: batches, TrainConfig(steps=steps, lr=1e-2, warmup_steps=steps // 10, weight_decay=0.0, eval_every=0,
                                      log_every=10**9, seed=0))
    model.eval()
    nats = {"plain": nats_per_icon(plain, [(ids, p) for ids, _, p in val_set]),
            "macros": nats_per_icon(model, [(short, p) for _, short, p in val_set])}
    has_macro = np.asarray([len(short) < len(ids) for ids, short, _ in val_set])

    grammars = {"plain": Grammar(tok.vocab, tok.grammar(drawable=True), [EOS_ID], vocab_size=plain.config.vocab_size),
                "macros": Grammar(macros.vocab, macros.grammar(), [EOS_ID])}
    models = {"plain": plain, "macros": model}
    texts = [p for _, _, p in val_set[:prompts]]
    evaluator = IconCLIP.from_pretrained(model_path("icon-clip"))
    generated, seconds = {}, {}
    for name in models:
        def run(name=name):
            out = []
            for i, text in enumerate(texts):
                prefix, prefix_mask = pipe.encode_prompt(text)
                constraint = BanningConstraint(grammars[name].constraint(), tok.zero_length_segment)
                result = generate(models[name], torch.tensor([[BOS_ID]]), max_new_tokens=pipe.config.max_tokens,
                                  sampling=SamplingConfig(top_p=0.5), prefix=prefix, prefix_mask=prefix_mask,
                                  guidance=Guidance(2.0), stop_tokens=[EOS_ID], constraints=[constraint], seed=i)
                out.append(result.sequences()[0])
            generated[name] = out
        seconds[name] = timed(run)[0] / len(texts)
    points = {}
    for name, seqs in generated.items():
        expanded = [macros.expand([BOS_ID, *s]) for s in seqs]
        svgs = [to_svg(tok.decode(ids, strict=False)) for ids in expanded]
        points[name] = {"generated tokens/icon": float(np.mean([len(s) for s in seqs])),
                        "generated tokens/icon expanded": float(np.mean([len(e) - 1 for e in expanded])),
                        "valid": float(np.mean([tok.is_valid(e) for e in expanded])),
                        "evaluator score": float(np.mean(evaluator.score(svgs, texts))),
                        "s/icon": seconds[name],
                        "icons with a macro": float(np.mean([any(t >= tok.vocab_size for t in s) for s in seqs]))}
    extra = {"val tokens/icon plain": float(np.mean([len(ids) for ids, _, _ in val_set])),
             "val tokens/icon macros": float(np.mean([len(short) for _, short, _ in val_set])),
             "val icons with a macro": float(has_macro.mean()),
             "nats/icon macros, rows untrained": float(before.mean()),
             "nats/icon plain, icons with a macro": float(nats["plain"][has_macro].mean()),
             "nats/icon macros, icons with a macro": float(nats["macros"][has_macro].mean()),
             "nats/icon plain, icons without": float(nats["plain"][~has_macro].mean()),
             "nats/icon macros, icons without": float(nats["macros"][~has_macro].mean())}
    extra |= {f"{name} {k}": v for name, point in points.items() for k, v in point.items()}
    return OptionLine(
        option="4 ToolkenGPT macro tokens (circle, rrect, mirror, repeat)",
        measured_on=f"models/iconshop-mini frozen + 4 rows trained {steps} steps x 16 on {len(train_set)} compressed "
        f"train icons (<= {max_tokens} tokens) with keyword prompts; {len(val_set)} val icons; {prompts} val prompts "
        "sampled once",
        metric="val nats per icon (whole icon, with its prompt), plain -> macros",
        without=float(nats["plain"].mean()),
        with_=float(nats["macros"].mean()),
        test="tests/svg/test_macros.py::test_expansion_is_the_hand_written_primitive, "
        "tests/backbones/test_toolken.py::test_training_changes_only_the_new_rows",
        extra=extra,
    )


def r2r_routing(steps: int = 1500, router_steps: int = 1500, icons: int = 60,
                thresholds: tuple[float, ...] = (0.7, 0.5, 0.3, 0.2, 0.1)) -> OptionLine:
    """Item 6: R2R token routing between a small (32x2) and a large (128x4) unconditional icon LM (PathTokenizer grid
    49, each trained `steps` steps on the same batches, kept in .cache/backbone_options). The router is trained
    `router_steps` steps on teacher-forced divergence labels of 2,000 train icons. Each method completes `icons` val
    icons from their first path element, greedy under the grammar: quality is the render MSE / SSIM of the
    completion against the real icon; cost is CPU seconds per icon (best of 2 interleaved rounds) and large-model
    forward passes. Baselines: the small model alone, the large alone (`generate`) and lossless speculative decoding
    of the large model (Token Recycling, the same tokens as the large alone)."""
    from bench.icon_lm import heldout, icon_sequences, pad
    from bench.timing import timed
    from gfx.backbones.constraints import BanningConstraint, Grammar
    from gfx.backbones.decoding import generate
    from gfx.backbones.routing import TokenRouter, divergence_labels, generate_routed
    from gfx.backbones.sampling import GREEDY
    from gfx.backbones.speculative import TokenRecycling, generate_speculative
    from gfx.svg.core.metrics import compare
    from gfx.svg.core.serialize import to_svg
    from gfx.svg.tokenizers.path import PathTokenizer, PathTokenizerConfig
    from gfx.svg.tokenizers.vocab import EOS_ID
    from gfx.train import TrainConfig, train

    tok = PathTokenizer(PathTokenizerConfig(grid=49))
    train_seqs, val_seqs = icon_sequences(tok, "train", 4000, 128), icon_sequences(tok, "val", 400, 128)
    small = cached_lm(f"r2r-small-32x2-{steps}", tok, train_seqs, steps, width=32, n_layer=2, n_head=2)
    large = cached_lm(f"r2r-large-128x4-{steps}", tok, train_seqs, steps, width=128, n_layer=4, n_head=4)
    router = TokenRouter(small.config.d_model)

    def examples(seqs):
        pairs = [divergence_labels(small, large, router, b["tokens"], b["attention_mask"])
                 for b in (pad(seqs[i : i + 32]) for i in range(0, len(seqs), 32))]
        return torch.cat([f for f, _ in pairs]), torch.cat([y for _, y in pairs])

    features, labels = examples(train_seqs[:2000])
    val_features, val_labels = examples(val_seqs)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(len(labels), (512,), generator=g) for _ in range(router_steps)]
    torch.manual_seed(0)
    train(router, batches, TrainConfig(steps=router_steps, lr=3e-3, warmup_steps=50, eval_every=0, log_every=10**9),
          loss_fn=lambda m, i: torch.nn.functional.binary_cross_entropy_with_logits(m(features[i]), labels[i]))
    router.eval()
    with torch.no_grad():
        scores = router(val_features)
    positive = scores[val_labels.bool()]
    auc = float((positive[:, None] > scores[~val_labels.bool()][None]).float().mean())

    grammar = Grammar(tok.vocab, tok.grammar(drawable=True), [EOS_ID])
    tasks = []
    for ids in val_seqs:
        starts = tok.element_starts(ids)
        if len(starts) >= 2 and len(tasks) < icons:
            tasks.append((ids.tolist()[: starts[1]], to_svg(tok.decode(ids))))

    def constraint(prompt):
        c = grammar.constraint()
        assert all(c.advance(t) for t in prompt[1:])
        return BanningConstraint(c, tok.zero_length_segment, prompt[1:])

    budget = 128
    recycling = TokenRecycling(tok.vocab_size)

    def plain(model):
        return lambda p: (generate(model, torch.tensor([p]), max_new_tokens=budget - len(p), sampling=GREEDY,
                                   constraints=[constraint(p)], stop_tokens=[EOS_ID]).sequences()[0], 0.0)

    def routed(threshold):
        def run(p):
            out = generate_routed(small, large, router, p, threshold=threshold, max_new_tokens=budget - len(p),
                                  constraint=constraint(p), stop_tokens=[EOS_ID])
            return out.tokens, out.large_calls
        return run

    def speculative(p):
        out = generate_speculative(large, torch.tensor([p]), draft=recycling, max_new_tokens=budget - len(p),
                                   sampling=GREEDY, constraints=[constraint(p)], stop_tokens=[EOS_ID])
        return out.sequences()[0], out.forward_passes

    methods = {"small": plain(small), "large": plain(large), "speculative (token recycling)": speculative}
    methods |= {f"r2r {t}": routed(t) for t in thresholds}
    outputs, seconds = {}, {name: float("inf") for name in methods}
    for _ in range(2):
        for name, run in methods.items():
            seconds[name] = min(seconds[name], timed(lambda run=run, name=name: outputs.__setitem__(
                name, [run(p) for p, _ in tasks]))[0] / len(tasks))
    points = {}
    for name, results in outputs.items():
        scores = [compare(ref, to_svg(tok.decode(p + tokens, strict=False)))
                  for (p, ref), (tokens, _) in zip(tasks, results, strict=True)]
        same = [tokens == large_tokens for (tokens, _), (large_tokens, _) in
                zip(results, outputs["large"], strict=True)]
        calls = float(np.mean([c if name.startswith(("r2r", "spec")) else len(t) * (name == "large")
                               for t, c in results]))
        points[name] = {"mse": float(np.mean([s["mse"] for s in scores])),
                        "ssim": float(np.mean([s["ssim"] for s in scores])),
                        "s/icon vs large": seconds[name] / seconds["large"],
                        "large calls/icon": calls, "same tokens as large": float(np.mean(same)),
                        "tokens/icon": float(np.mean([len(t) for t, _ in results]))}
    extra = {f"{name} {k}": v for name, point in points.items() for k, v in point.items()}
    extra |= {"large s/icon": seconds["large"], "router val AUC": auc, "val divergence rate": float(val_labels.mean()),
              "small val loss": heldout(small, val_seqs)[0], "large val loss": heldout(large, val_seqs)[0]}
    best = max((t for t in thresholds if points[f"r2r {t}"]["mse"] <= points["large"]["mse"]), default=min(thresholds))
    return OptionLine(
        option=f"6 R2R token routing (threshold {best})",
        measured_on=f"unconditional icon LMs, PathTokenizer grid 49, small 32x2 ({sum(p.numel() for p in small.parameters()):,}"
        f" params) and large 128x4 ({sum(p.numel() for p in large.parameters()):,}), {steps} steps x 16 each on "
        f"{len(train_seqs)} train icons; router {router_steps} steps on 2,000; {len(tasks)} val icons completed from "
        "their first element, greedy under the grammar",
        metric="render MSE of the completion vs the real icon, large alone -> R2R",
        without=points["large"]["mse"],
        with_=points[f"r2r {best}"]["mse"],
        test="tests/backbones/test_routing.py::test_threshold_zero_is_the_large_model_and_one_the_small",
        extra=extra,
    )


def cached_lm(name: str, tokenizer, train_seqs, steps: int, seed: int = 0, **shape) -> torch.nn.Module:
    """`bench.icon_lm.path_lm(tokenizer, **shape)` trained `steps` steps from `seed`, in eval mode; the weights
    are kept in .cache/backbone_options/<name>.pt and read from there when present."""
    from bench.icon_lm import path_lm, train_lm

    torch.manual_seed(seed)
    model = path_lm(tokenizer, **shape)
    weights = CACHE / f"{name}.pt"
    if weights.exists():
        model.load_state_dict(torch.load(weights))
    else:
        train_lm(model, train_seqs, steps, seed=seed)
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights)
    return model.eval()


def spread(values: dict[str, list[float]]) -> dict[str, float]:
    """Per variant: the mean and the spread (max - min) over seeds."""
    return {f"{stat} {k}": f(v) for k, v in values.items() for stat, f in
            (("mean", np.mean), ("spread", np.ptp))}


OPTIONS = {
    "token-healing": token_healing,
    "coordinate-embeddings": coordinate_embeddings,
    "lexinvariant-ids": lexinvariant_ids,
    "vocabulary-migration": vocabulary_migration,
    "skip-decode": skip_decode,
    "any-subset": any_subset,
    "insertion": insertion,
    "toolken-macros": toolken_macros,
    "r2r-routing": r2r_routing,
}
"""Option name -> measurement."""


def measured(name: str, recompute: bool = False) -> OptionLine:
    """The option's line from .cache/backbone_options, measured (and cached) when missing or `recompute`."""
    path = CACHE / f"{name}.json"
    if path.exists() and not recompute:
        return OptionLine(**json.loads(path.read_text()))
    line = lookup(OPTIONS, name, "backbone option")()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(line), indent=2) + "\n")
    return line


def main(argv: list[str] | None = None) -> list[OptionLine]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.backbone_options", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--options", default=",".join(OPTIONS), help=f"comma-separated subset of {list(OPTIONS)}"
    )
    parser.add_argument("--recompute", action="store_true", help="measure again instead of reading .cache")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--results", action="store_true", help="print the lines recorded in --out and stop")
    args = parser.parse_args([] if argv is None else argv)
    if args.results:
        recorded = sorted(json.loads(Path(args.out).read_text()), key=lambda line: int(line["option"].split()[0]))
        lines = [OptionLine(**line) for line in recorded]
        print("\n".join(map(str, lines)))
        return lines
    set_threads(1)
    lines = []
    for name in args.options.split(","):
        start = time.process_time()
        lines.append(measured(name, args.recompute))
        print(f"{lines[-1]}  [{time.process_time() - start:.0f} s]", flush=True)
    out = Path(args.out)
    kept = json.loads(out.read_text()) if out.exists() else []  # lines of the options not run this time stay
    kept = [line for line in kept if line["option"] not in {new.option for new in lines}]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(kept + [asdict(line) for line in lines], indent=2) + "\n")
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
