"""The `gfx train iconshop` recipe: train IconShop on the committed icon corpus and write its model card.

    gfx train iconshop                       # models/iconshop-mini, resumes from .cache/train/iconshop-mini
    gfx train iconshop --steps 20000 --preset small --out models/iconshop-small
    gfx train iconshop --config scripts/train/iconshop-rag.json --out models/iconshop-rag   # retrieval-augmented,
                                                           # trained without the concept-disjoint protocol's concepts

The skeleton (seed, checkpoints, save, card) is `gfx.recipes.run`; this module has only IconShop's parts.
A new session without the checkpoint cache can warm-start from the shipped weights (`--init-from`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from gfx.checkpoint import load_weights
from gfx.recipes.card import Card, Table, run_lines
from gfx.recipes.iconshop_data import AugmentConfig, IconBatches, tokenize_records
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts
from gfx.svg.iconshop import IconShop, IconShopConfig
from gfx.train import Prefetch

log = logging.getLogger(__name__)

ICON_DATASETS = ("@tabler/icons (MIT)", "lucide-static (ISC)", "@mdi/svg (Apache-2.0)")
"""The committed icon corpus's sources (`assets/icons/`), for the cards' front matter."""


@dataclass
class IconShopRecipe(RecipeConfig):
    """The iconshop schedule; the defaults are models/iconshop-mini's last run: 7,000 steps at peak lr 5e-4,
    warm-started (its train.json's `init_from`) from the 18,500-step weights of `scripts/train/iconshop-18500.json`."""

    PRESETS = {"tiny": dict(preset="tiny", steps=3, batch_size=4, eval_limit=0, lr=1e-3, warmup_steps=500)}

    steps: int = 7000
    batch_size: int = 24
    lr: float = 5e-4
    warmup_steps: int = 200
    eval_every: int = 1000
    eval_batches: int = 10
    checkpoint_every: int = 250
    log_every: int = 50
    eval_limit: int | None = 200  # test prompts of the card's table
    prefetch: int | None = None  # batches collated ahead in a thread (default: 4 on CUDA, none on CPU)
    references: int = 0  # retrieval augmentation: nearest other-concept icons placed before each icon
    protocol: str | None = None  # "concept-disjoint": train without the held-out concepts (icon_protocols)
    coordinate_embedding: str = "learned"  # x/y tables: "learned" or "fourier" (docs/backbone_options.md)
    reranker: str | None = "icon-clip-disjoint"  # an IconCLIP under MODELS_DIR the pipeline ships to rerank samples
    candidates: int = 8  # samples per icon the reranker picks from (IconShopConfig.candidates)
    consensus: float = 0.5  # weight of the candidates' agreement in reranking (IconShopConfig.consensus)


def splits(config: IconShopRecipe) -> tuple[list, list]:
    """The (train, val) icon records: the corpus splits, without the held-out concepts under a protocol."""
    from gfx.recipes.icon_protocols import protocol_splits

    return protocol_splits(config.protocol)


def build(config: IconShopRecipe) -> IconShop:
    """A freshly initialised IconShop pipeline of the config's preset, with its retrieval index when the
    recipe uses references (the training icons, grouped by concept)."""
    pipeline_config = IconShopConfig.from_name(config.preset, references=config.references,
                                               candidates=config.candidates, consensus=config.consensus)
    reranker = None
    if config.reranker is not None:
        from gfx.models import MODELS_DIR
        from gfx.svg.icon_clip import IconCLIP

        reranker = IconCLIP.from_pretrained(MODELS_DIR / config.reranker)
    index = None
    if config.references:
        from gfx.recipes.iconshop_references import concept_groups
        from gfx.svg.icon_retrieval import IconIndex

        train, val = splits(config)
        index = IconIndex.build(train, concept_groups(train + val)[: len(train)])
    return IconShop.build(pipeline_config, index, reranker, coordinate_embedding=config.coordinate_embedding)


def stages(pipe: IconShop, config: IconShopRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """One stage: the decoder on the tokenized corpus, prompts encoded per batch on the training device; with
    references, each icon is preceded by icons of other concepts retrieved for its name."""
    from gfx.backbones.text_encoder import text_encoder

    started = time.perf_counter()
    train, val = splits(config)
    max_tokens, limit = pipe.config.max_tokens, pipe.config.max_reference_tokens
    if config.references:
        from gfx.recipes.iconshop_data import encode_records
        from gfx.recipes.iconshop_references import concept_groups, neighbour_table

        groups = concept_groups(train + val)
        pool = encode_records(train, pipe.tokenizer)
        train_samples = tokenize_records(train, pipe.tokenizer, max_tokens,
                                         neighbour_table(pipe.index, train, groups[: len(train)]), pool, limit)
        val_samples = tokenize_records(val, pipe.tokenizer, max_tokens,
                                       neighbour_table(pipe.index, val, groups[len(train):]), pool, limit)
    else:
        train_samples = tokenize_records(train, pipe.tokenizer, max_tokens)
        val_samples = tokenize_records(val, pipe.tokenizer, max_tokens)
    log.info("tokenized %d train and %d val icons in %.0f s", len(train_samples), len(val_samples),
             time.perf_counter() - started)
    facts.update(preset=config.preset, parameters=parameter_count(pipe.model), train_icons=len(train_samples),
                 val_icons=len(val_samples), batch_size=config.batch_size, lr=config.lr, seed=config.seed,
                 references=config.references, protocol=config.protocol, reranker=config.reranker,
                 candidates=config.candidates, consensus=config.consensus)
    train_data = IconBatches(train_samples, pipe.tokenizer, config.batch_size, AugmentConfig(), seed=config.seed,
                             references=config.references)
    prefetch = config.prefetch if config.prefetch is not None else 4 * (torch.device(device).type == "cuda")
    stage = Stage(None, pipe.model, Prefetch(train_data, depth=prefetch) if prefetch else train_data,
                  IconBatches(val_samples, pipe.tokenizer, config.batch_size, None, seed=config.seed,
                              references=config.references),
                  config.schedule())
    text_encoder().to(device)
    yield stage
    text_encoder().to("cpu")
    facts.update(run_facts(stage.result))


def evaluate(pipe: IconShop, config: IconShopRecipe) -> dict:
    """`evaluate_iconshop` on the test split (the card's table)."""
    from gfx.recipes.iconshop_eval import evaluate_iconshop

    return evaluate_iconshop(pipe, split="test", limit=config.eval_limit or 0, seed=config.seed)


def card(name: str, facts: dict) -> Card:
    """The iconshop model card from its facts."""
    run = run_lines(facts, "next-token cross-entropy")
    return Card(
        title=name,
        summary="IconShop-style text -> icon model of gfx: a decoder-only transformer over PathTokenizer tokens\n"
        "(one token per lattice point, M/L/C/Z, stroke/fill style tokens) with the prompt's MiniLM token\n"
        "states as a prefix, trained with shuffled-keyword prompts, 10% empty prompts (classifier-free\n"
        "guidance) and 50% fill-in-the-middle spans. Sampling is always grammar-constrained."
        + (f" Each icon is the\nbest of {facts['candidates']} samples by a reranker shipped with the model: the "
           f"IconCLIP `models/{facts['reranker']}`, trained\nwithout the concepts the concept-disjoint protocol holds "
           "out (its own card)" + (f", and the samples' agreement (weight {facts['consensus']:g}:\nminimum Bayes risk "
                                   "under the ink-chamfer shape distance)" if facts.get("consensus") else "")
           + "." if facts.get("candidates", 1) > 1 else ""),
        datasets=ICON_DATASETS,
        tags=("text-to-svg", "icons", "iconshop", "autoregressive"),
        data=f"The committed icon corpus (`assets/icons/`: Tabler outline + filled, Lucide, MDI), train split: "
        f"{facts['train_icons']} icons that fit the token budget; validation: {facts['val_icons']} icons."
        + (" Every icon of the concepts the concept-disjoint protocol holds out (`gfx.recipes.icon_protocols`) is "
           "left out of training." if facts.get("protocol") == "concept-disjoint" else "")
        + (f" Each icon is preceded by {facts['references']} retrieved icons of other concepts (nearest to its "
           "name) that the model reads and composes from; the retrieval index ships with the model."
           if facts.get("references") else ""),
        run=run,
        metrics=([metrics_table(facts["eval"])] if "eval" in facts else [])
        + [protocol_table(reports) for reports in facts.get("protocols", {}).values()],
        notes=([metrics_note(facts["eval"])] if "eval" in facts else []) + protocol_notes(facts),
        use=f"""
from gfx.svg.iconshop import IconShop
pipe = IconShop.from_pretrained("models/{name}")
[icon] = pipe("house, home", n=1, seed=0)   # SVGResult: .svg, .document, .tokens, .render(size)
print(icon.svg)
""",
    )


def metrics_table(e: dict) -> Table:
    """The `gfx eval iconshop` report as a table: the model, the retrieval baseline, the real icons."""
    model, base = e["iconshop"], e["retrieval_baseline"]

    def row(label: str, m: dict, seconds: str) -> list[str]:
        return [label, f"{m['validity']:.3f}", f"{m['evaluator_score']:.3f}", f"{m['fid']:.2f}",
                f"{m['uniqueness_pct']:.1f}", f"{m['novelty_pct']:.1f}", seconds]

    return Table(
        f"`gfx eval iconshop --split test --style {e.get('style') or 'any'}`: {e['icons']} test prompts, one icon "
        f"each (seed {e['seed']}"
        + (f", the {reranking(e)}" if reranking(e) else ", no reranking")
        + "). "
        "Evaluator = `models/icon-clip`.",
        ["", "validity", "evaluator score", "FID (icon-clip features)", "uniqueness %", "novelty %", "s / icon"],
        [row("iconshop", model, f"{model['seconds_per_icon_median']:.2f}"),
         row("retrieval baseline", base, "-"),
         ["real test icons", "1.000", f"{e['real_icons_evaluator_score']:.3f}", "0", "-", "-", "-"]],
    )


def protocol_table(reports: list[dict]) -> Table:
    """One protocol's `gfx eval iconshop --protocol P --style S` reports (one per style, same prompts and seeds) as
    a table: the model in each style, then the retrieval and random baselines (the same in every report)."""
    first = reports[0]

    def row(label: str, m: dict) -> list[str]:
        return [label, *(f"{m[f'{k}_mean']:.{d}f} ± {m[f'{k}_std']:.{d}f}" for k, d in
                         (("top1", 3), ("top5", 3), ("mean_distance", 2))),
                f"{100 * m['near_copy_rate']:.1f}", f"{100 * m['outline_style_rate']:.1f}"]

    styles = ", ".join(dict.fromkeys(str(r["style"] or "any") for r in reports))
    candidates = ", ".join(dict.fromkeys(str(r.get("candidates") or 1) for r in reports))
    consensus = ", ".join(dict.fromkeys(f"{r.get('consensus') or 0:g}" for r in reports))
    return Table(
        f"`gfx eval iconshop --protocol {first['protocol']} --limit {first['prompts']} --style {{{styles}}}"
        + (f" --candidates {{{candidates}}}" if candidates != "1" else "")
        + (f" --consensus {{{consensus}}}" if consensus != "0" else "") + "`: "
        f"{first['prompts']} of the "
        f"{first['concepts']} concepts prompted (evenly spaced), seeds {', '.join(map(str, first['seeds']))}; "
        f"each sample ranked against all {first['references']} references at {first['raster']} px (shape rank: "
        f"top-1 / top-5 of the prompted concept, mean chamfer distance to it in pixels; mean ± std over seeds); "
        f"near-copy: within {first['near_copy_threshold_px']:.3f} px of a training icon.",
        ["", "top-1", "top-5", "mean distance", "near-copy %", "outline-style %"],
        [row(", ".join(filter(None, ["iconshop", f"style {r['style'] or 'any'}", reranking(r)])), r["methods"]["iconshop"])
         for r in reports]
        + [row(name, first["methods"][name]) for name in ("retrieval", "random")],
    )


def reranking(report: dict) -> str:
    """How an evaluation report's icons were chosen, for a label: "" (one sample) or "best of K[, agreement W]"."""
    if (report.get("candidates") or 1) == 1:
        return ""
    return f"best of {report['candidates']}" + (f", agreement {report['consensus']:g}" if report.get("consensus") else "")


def protocol_notes(facts: dict) -> list[str]:
    """How to read the protocol tables: a model trained on the whole train split saw the held-out concepts."""
    if "concept-disjoint" not in facts.get("protocols", {}) or facts.get("protocol") == "concept-disjoint":
        return []
    return ["This model trained on the whole train split, the held-out concepts' icons included (it predates the "
            "protocol), so its concept-disjoint figures measure seen concepts drawn by both designers, not "
            "held-out ones; the baselines' training set does leave them out."]


def metrics_note(e: dict) -> str:
    """The evaluator score relative to the real icons'."""
    real = e["real_icons_evaluator_score"]
    return (f"The model's evaluator score is {e['iconshop']['evaluator_score'] / real:.0%} of the real icons' for "
            f"the same prompts (retrieval baseline: {e['retrieval_baseline']['evaluator_score'] / real:.0%}).")


RECIPE = Recipe(
    name="iconshop",
    model_name="iconshop-mini",
    config_class=IconShopRecipe,
    build=build,
    warm_start=lambda pipe, path: load_weights(pipe.model, path),
    stages=stages,
    save=lambda pipe, path: pipe.save_pretrained(path),
    load=IconShop.from_pretrained,
    evaluate=evaluate,
    card=card,
)
