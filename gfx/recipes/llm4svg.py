"""The `gfx train llm4svg` recipe: a small causal LM trained from scratch to describe, draw and edit icons through
the semantic SVG tokens, and its model card.

    gfx train llm4svg              # models/llm4svg-mini, resumes from RUNS_DIR/llm4svg-mini

No pretrained LM weights are available offline, so the recipe makes the "pretrained" LM itself, then takes the
path a user's local model takes: 1. a byte-level BPE text tokenizer built from the instruction text
(`llm4svg_data.text_corpus`); 2. a randomly initialised transformers Llama of the preset's shape, saved as a
transformers directory; 3. `LLM4SVG.from_pretrained(that directory)` adds the semantic tokens (description-mean
embeddings); 4. instruction tuning on `llm4svg_data.instructions` (train icons; validation on the val split), loss on
the answers and target SVGs only (LLM4SVG masks the prompt out). The card's metrics are `gfx eval llm4svg`.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from gfx.backbones.language import CausalLM
from gfx.data.subset import evenly_spaced
from gfx.recipes.batching import Batches, by_size
from gfx.recipes.card import Card, Table, minutes, run_lines
from gfx.recipes.llm4svg_data import MAX_EDIT_TOKENS, MAX_SVG_TOKENS, Instruction, instructions, text_corpus
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts
from gfx.runtime import optional_import
from gfx.svg.llm4svg import LLM4SVG, LLM4SVGConfig
from gfx.svg.tokenizers.semantic import SemanticTokenizer

MODEL_NAME = "llm4svg-mini"
END_OF_TEXT = "<|endoftext|>"
LM_PRESETS = {
    "mini": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4, text_vocab=2000),
    "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, text_vocab=300),
}
"""Shape of the from-scratch LM (a transformers Llama) and the size of its BPE text vocabulary."""


@dataclass
class LLM4SVGRecipe(RecipeConfig):
    """The llm4svg-mini schedule; the defaults are the shipped model's."""

    PRESETS = {"tiny": dict(preset="tiny", steps=2, batch_size=4, train_icons=12, val_icons=6, eval_limit=0)}

    steps: int = 10000
    batch_size: int = 16
    lr: float = 2e-3
    warmup_steps: int = 100
    eval_every: int = 400
    eval_batches: int = 8
    checkpoint_every: int = 100
    max_svg_tokens: int = MAX_SVG_TOKENS  # icons longer than this (semantic tokens, BOS and EOS included) are left out
    max_edit_tokens: int = MAX_EDIT_TOKENS  # edit examples only for icons (and edits) up to this length
    train_icons: int = 0  # use the first N training icons (0: all)
    val_icons: int = 200  # validation icons (evenly spaced over the val split)
    draw_variants: int = 0  # extra draws per training icon: keyword prompts, the icon moved (llm4svg_data)
    reranker: str | None = None  # an IconCLIP under MODELS_DIR the pipeline ships to rerank drawings
    candidates: int = 1  # drawings per icon the reranker picks from (LLM4SVGConfig.candidates)
    consensus: float = 0.0  # weight of the candidates' agreement in that choice (LLM4SVGConfig.consensus)
    draw_temperature: float | None = None  # drawing's sampling temperature (LLM4SVGConfig.draw_temperature)
    eval_limit: int | None = 50  # prompts / test icons of the card's evaluation
    time_limit_s: float | None = None  # the shipped run took 74 minutes of one CPU thread


def instruction_data(config: LLM4SVGRecipe) -> tuple[list[Instruction], list[Instruction]]:
    """(train, val) instructions of the recipe (cached on disk by `instructions`)."""
    return _instruction_data(config.train_icons, config.val_icons, config.max_svg_tokens, config.max_edit_tokens,
                             config.draw_variants)


@functools.lru_cache(maxsize=2)
def _instruction_data(train_icons: int, val_icons: int, max_svg_tokens: int, max_edit_tokens: int,
                      draw_variants: int) -> tuple[list[Instruction], list[Instruction]]:
    from gfx.data.icons import load_icons
    from gfx.recipes.icon_protocols import training_records

    records = load_icons()
    train = training_records(records)
    val = [r for r in records if r.split == "val"]
    train = train[:train_icons] if train_icons else train
    val = evenly_spaced(val, val_icons)
    tokenizer = SemanticTokenizer()
    return (instructions(train, tokenizer, max_svg_tokens, max_edit_tokens, draw_variants=draw_variants),
            instructions(val, tokenizer, max_svg_tokens, max_edit_tokens, split="val"))


def text_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE `PreTrainedTokenizerFast` built from `texts`, with `END_OF_TEXT` as bos, eos and pad."""
    transformers, tokenizers = optional_import("transformers"), optional_import("tokenizers")
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[END_OF_TEXT],
                            show_progress=False)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=END_OF_TEXT,
                                                eos_token=END_OF_TEXT, pad_token=END_OF_TEXT)


def build(config: LLM4SVGRecipe) -> LLM4SVG:
    """A random Llama with a BPE tokenizer, saved as a transformers directory and loaded back as an `LLM4SVG` (the
    semantic tokens added as for any local LM), with the recipe's reranker and drawing settings."""
    transformers = optional_import("transformers")
    train, _ = instruction_data(config)
    shape = dict(LM_PRESETS[config.preset])
    text = text_tokenizer(text_corpus(train, SemanticTokenizer()), shape.pop("text_vocab"))
    hf_config = transformers.LlamaConfig(
        vocab_size=len(text), max_position_embeddings=2 * config.max_svg_tokens + 128, tie_word_embeddings=True,
        bos_token_id=text.bos_token_id, eos_token_id=text.eos_token_id, pad_token_id=text.pad_token_id, **shape)
    with tempfile.TemporaryDirectory() as directory:
        CausalLM.from_config(hf_config, text).save_pretrained(directory)
        pipe = LLM4SVG.from_pretrained(directory)
    pipe.config = LLM4SVGConfig(max_svg_tokens=config.max_svg_tokens, candidates=config.candidates,
                                consensus=config.consensus, draw_temperature=config.draw_temperature)
    if config.reranker is not None:
        from gfx.models import MODELS_DIR
        from gfx.svg.icon_clip import IconCLIP

        pipe.reranker = IconCLIP.from_pretrained(MODELS_DIR / config.reranker)
    return pipe


def example_batches(pipe: LLM4SVG, items: list[Instruction], batch_size: int, seed: int,
                    shuffle: bool = True) -> Batches:
    """Batches of {"tokens" (B, T) long right-padded, "attention_mask" (B, T), "loss_mask" (B, T) on the answers}."""
    examples = [pipe.example_ids(i.task, i.text, i.svg or None, i.answer, i.target or None) for i in items]

    def collate(index: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        rows = [examples[i] for i in index]
        width = max(len(ids) for ids, _ in rows)
        tokens = torch.zeros(len(rows), width, dtype=torch.long)
        mask, loss_mask = (torch.zeros(len(rows), width, dtype=torch.bool) for _ in range(2))
        for k, (ids, prompt) in enumerate(rows):
            tokens[k, : len(ids)], mask[k, : len(ids)] = torch.tensor(ids), True
            loss_mask[k, prompt : len(ids)] = True
        return {"tokens": tokens, "attention_mask": mask, "loss_mask": loss_mask}

    return Batches(len(examples), batch_size, collate, seed=seed, order=by_size([len(ids) for ids, _ in examples], 50),
                   shuffle=shuffle, drop_last=shuffle)


def stages(pipe: LLM4SVG, config: LLM4SVGRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """One stage: instruction tuning of the whole LM (embeddings included) on describe, draw and edit."""
    train, val = instruction_data(config)
    facts.update(preset=config.preset, parameters=parameter_count(pipe.lm), train_instructions=len(train),
                 train_icons=len({i.icon for i in train}), val_instructions=len(val),
                 tasks={t: sum(i.task == t for i in train) for t in ("describe", "draw", "edit")},
                 text_vocab=len(pipe.lm.tokenizer) - len(pipe.token_ids), svg_tokens=len(pipe.token_ids),
                 draw_variants=config.draw_variants, reranker=config.reranker, candidates=config.candidates,
                 consensus=config.consensus, draw_temperature=config.draw_temperature)
    stage = Stage(None, pipe.lm, example_batches(pipe, train, config.batch_size, config.seed),
                  list(example_batches(pipe, val, config.batch_size, config.seed, shuffle=False)), config.schedule())
    yield stage
    run = run_facts(stage.result)
    facts.update(steps=run.pop("steps"), planned_steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                 seed=config.seed, **run)


def evaluate(pipe: LLM4SVG, config: LLM4SVGRecipe) -> dict:
    from gfx.recipes.llm4svg_eval import evaluate_model

    return evaluate_model(pipe, limit=config.eval_limit or 0)


def _f(value: float) -> str:
    return f"{value:.3f}"


def metric_tables(e: dict) -> list[Table]:
    """The `gfx eval llm4svg` report as the card's tables."""
    d, draw, edit = e["describe"], e["draw"], e["edit"]
    describe = Table(
        f"Describe, {d['icons']} test icons (evenly spaced): name retrieval ranks the {d['icons']} icons' descriptions "
        "(\"Category: name words\") by the model's log-probability after the describe prompt; correct when the top "
        f"one has the icon's name (top-5: among the first five). Category: the {d['categories']} categories of those "
        "icons ranked the same way (icons with a category only). IconCLIP: cosine of the icon's image with the name "
        "words / the category.",
        ["", "name top-1", "name top-5", "category top-1"],
        [["llm4svg", _f(d["llm4svg"]["name_top1"]), _f(d["llm4svg"]["name_top5"]), _f(d["llm4svg"]["category_top1"])],
         ["icon-clip", _f(d["icon_clip"]["name_top1"]), _f(d["icon_clip"]["name_top5"]),
          _f(d["icon_clip"]["category_top1"])],
         ["chance", _f(d["chance"]["name_top1"]), _f(d["chance"]["name_top5"]), _f(d["chance"]["category_top1"])]],
    )
    methods = draw["methods"]
    drawing = Table(
        f"Draw, shape-rank protocol `{draw['protocol']}` (`gfx.recipes.icon_protocols`): {draw['prompts']} of the "
        f"{draw['concepts']} concepts prompted with their name words, seeds {draw['seeds']}; each sample ranked against "
        f"all {draw['references']} references at {draw['raster']} px (top-1 / top-5 of the prompted concept, mean "
        "chamfer distance in px; mean ± std over seeds); near-copy: within "
        f"{draw['near_copy_threshold_px']:.3f} px of a training icon. IconShop samples in its default outline style.",
        ["", "validity", "top-1", "top-5", "mean distance", "near-copy %"],
        [[name, _f(m["validity"]) if "validity" in m else "-", f"{m['top1_mean']:.3f} ± {m['top1_std']:.3f}",
          f"{m['top5_mean']:.3f} ± {m['top5_std']:.3f}",
          f"{m['mean_distance_mean']:.2f} ± {m['mean_distance_std']:.2f}", f"{100 * m['near_copy_rate']:.1f}"]
         for name, m in methods.items()],
    )
    editing = Table(
        f"Edit, {edit['icons']} test icons with one of the trained edits each (the edit picked as in training): "
        "validity, exact match of the edited icon's tokens, and render MSE against the exact edit (128 px; the "
        "unedited icon's MSE beside it).",
        ["validity", "exact match", "MSE", "MSE of the unedited icon"],
        [[_f(edit["validity"]), _f(edit["exact_match"]), f"{edit['mse']:.4f}", f"{edit['mse_unedited']:.4f}"]],
    )
    return [describe, drawing, editing]


def notes(facts: dict) -> list[str]:
    """How to read the card: the run's size, and what the tables say about it (each verdict from its numbers)."""
    cut = (f"{facts['steps']} of {facts['planned_steps']} planned steps when the time limit ended the run"
           if facts["steps"] < facts["planned_steps"] else f"{facts['steps']} steps")
    run = (f"{facts['parameters'] / 1e6:.1f}M-parameter LM trained from scratch for "
           f"{minutes(facts['train_wall_time_s'])} on one CPU thread ({cut}). Validity holds by construction "
           "(grammar-constrained decoding); the draw table puts it beside IconShop (`models/iconshop-mini`, 2M "
           "parameters, 281 min of training, which saw the held-out concepts) on the same prompts and seeds.")
    if facts.get("candidates", 1) > 1:
        temperature = facts.get("draw_temperature")
        run += (f" Each drawing is the best of {facts['candidates']} samples"
                f"{f' at temperature {temperature}' if temperature else ''} by the shipped reranker "
                f"(`{facts['reranker']}`; agreement weight {facts['consensus']}).")
    if "eval" not in facts:
        return [f"A {run}"]
    e = facts["eval"]
    describe, draw, edit = e["describe"], e["draw"]["methods"], e["edit"]
    distance, iconshop = draw["llm4svg"]["mean_distance_mean"], draw["iconshop"]["mean_distance_mean"]
    beats_clip = describe["llm4svg"]["name_top1"] > describe["icon_clip"]["name_top1"]
    closer = distance <= iconshop
    edits_learned = edit["mse"] < edit["mse_unedited"]
    verdicts = (f"Describing beats chance {'and' if beats_clip else 'but not'} IconCLIP; drawings are "
                f"{'as close to' if closer else 'farther from'} their concept {'as' if closer else 'than'} IconShop's "
                f"(mean distance {distance:.2f} px against {iconshop:.2f}); edits are "
                f"{'learned' if edits_learned else 'not learned yet'} (render MSE {edit['mse']:.3f} against "
                f"{edit['mse_unedited']:.3f} for leaving the icon unchanged).")
    return [f"Quality is weak: a {run}" if not (closer and edits_learned) else f"A {run}",
            f"Validity over every SVG the model wrote in the evaluation (drawings and edits): {e['validity']:.3f}. "
            + verdicts]


def card(name: str, facts: dict) -> Card:
    tasks, extra = facts["tasks"], facts.get("draw_variants", 0)
    variants = f" (of them {extra} per icon with keyword prompts and the icon moved)" if extra else ""
    return Card(
        title=name,
        summary="LLM4SVG-style SVG language model of gfx: a small Llama (trained from scratch here: no pretrained LM\n"
        "weights are available offline) whose vocabulary holds the semantic SVG tokens (`<|svg:<path>|>`,\n"
        "`<|svg:C|>`, `<|svg:<12.5>|>`, ...), their embeddings initialised from their descriptions. It describes,\n"
        "draws and edits icons; SVG is always written under the semantic grammar, so every output is valid.",
        datasets=("@tabler/icons (MIT)", "lucide-static (ISC)", "@mdi/svg (Apache-2.0)"),
        tags=("text-to-svg", "svg-to-text", "icons", "llm4svg", "causal-lm"),
        data=f"{facts['train_instructions']} instructions from {facts['train_icons']} icons of the corpus train split "
        f"(the concept-disjoint protocol's held-out concepts left out): {tasks['describe']} describe, "
        f"{tasks['draw']} draw{variants}, {tasks['edit']} edit (`gfx.recipes.llm4svg_data`); validation: "
        f"{facts['val_instructions']} instructions of val-split icons. Text vocabulary: {facts['text_vocab']} BPE "
        f"tokens built from the instruction text; {facts['svg_tokens']} semantic SVG tokens.",
        run=run_lines(facts, "next-token cross-entropy of answers and target SVGs",
                      steps=f"{facts['steps']} of {facts['planned_steps']} planned"),
        metrics=metric_tables(facts["eval"]) if "eval" in facts else [],
        notes=notes(facts),
        use=f"""
from gfx.svg.llm4svg import LLM4SVG
pipe = LLM4SVG.from_pretrained("models/{name}")   # or any local transformers causal-LM directory
[icon] = pipe("arrow up", n=1, seed=0)          # SVGResult: .svg, .document, .tokens, .render(size)
print(pipe.describe(icon.svg))                   # "Category: name words"
[edited] = pipe.edit(icon.svg, "mirror it horizontally", seed=0)
""",
    )


RECIPE = Recipe(
    name="llm4svg",
    model_name=MODEL_NAME,
    config_class=LLM4SVGRecipe,
    build=build,
    warm_start=None,
    stages=stages,
    save=lambda pipe, path: pipe.save_pretrained(path),
    load=LLM4SVG.from_pretrained,
    evaluate=evaluate,
    card=card,
)
