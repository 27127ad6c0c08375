"""The `gfx train shapes-diffusion` recipe: a text -> image diffusion model on the procedural 2D world.

    gfx train shapes-diffusion                 # models/shapes-diffusion, resumes from gfx.train.RUNS_DIR

Every batch is drawn fresh from the world (`gfx.data.shapes2d`), seeded by (seed, epoch, batch), so a resumed run
sees exactly the batches it would have seen; `empty_prompt_prob` of the captions are dropped for classifier-free
guidance. The loss is the MSE to the scheduler's prediction target (v for the shipped configuration, epsilon for a
pipeline configured so) at uniformly drawn timesteps.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gfx.backbones.text_encoder import minilm_tokenizer
from gfx.data.shapes2d.world import WorldConfig, caption, sample_scene
from gfx.image.attention import AttentionStore, capture_cross_attention
from gfx.image.codec import latent_codec
from gfx.image.denoise import encode_prompts
from gfx.image.diffusion_loss import denoising_error
from gfx.image.grounding import grounding_losses
from gfx.image.pipeline import ShapesDiffusionConfig, ShapesDiffusionPipeline
from gfx.image.prompt_ops import end_position, word_positions
from gfx.image.tokenizer import clip_tokenizer
from gfx.paths import shipped
from gfx.recipes.card import Card, Table, minutes, run_lines
from gfx.recipes.image_eval import evaluate_image
from gfx.recipes.run import Recipe, RecipeConfig, Stage, parameter_count, run_facts, warm_start_facts
from gfx.recipes.world_batches import world_data

log = logging.getLogger(__name__)

CLIP_BPE = shipped("clip-bpe") / "bpe_simple_vocab_16e6.txt.gz"
OBJECT_MARGIN = 2  # px around ink that the object-weighted loss also up-weights
MULTI_OBJECT_WARMUP = 100  # warmup steps of the multi-object stage's restart
MULTI_OBJECT_COUNTS = (0.35, 0.45, 0.2)  # the multi-object stage's weights of 1, 2 and 3 objects
CONDITIONING = {"clip": "a CLIP text encoder (the real CLIP BPE, built offline)",
                "minilm": "frozen pretrained all-MiniLM-L6-v2 token states (not trained here), linearly projected"}


class DenoiserTraining(nn.Module):
    """The trainable parts of a pipeline (UNet and text encoder) with the diffusion loss of its scheduler.

    Objects cover a few percent of a world picture, so under plain MSE a wrong shape costs almost nothing beside a
    wrong colour. With `object_weight` w > 0, latent cells near ink weigh up to 1 + w (the batch's "ink" mask
    dilated by `OBJECT_MARGIN` px, box-filtered to the latent grid), each row normalised by its mean weight, at
    timesteps below `object_weight_max_t` only: where the noisy input does not yet show where objects are, weights
    read from the clean image would bias the denoiser towards ink everywhere (extra objects).

    With `grounding_weight` or `pixel_weight` > 0 (batches with "regions" and "grounded"), TokenCompose's token and
    pixel losses (`gfx.image.grounding`) are added with those weights: each object phrase's cross-attention should
    lie on its object, and its object's pixels should attend to it.
    """

    def __init__(self, pipe: ShapesDiffusionPipeline, object_weight: float = 0.0, object_weight_max_t: int = 800,
                 grounding_weight: float = 0.0, pixel_weight: float = 0.0):
        super().__init__()
        self.unet, self.text_encoder = pipe.unet, pipe.text_encoder
        self.codec, self.scheduler = latent_codec(pipe), pipe.scheduler
        self.object_weight, self.object_weight_max_t = object_weight, object_weight_max_t
        self.grounding_weight, self.pixel_weight = grounding_weight, pixel_weight

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        latents = self.codec.encode(batch["pixels"])  # (B, C, h, w)
        states = self.text_encoder(batch["input_ids"])[0]  # (B, T, D)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(latents),), device=latents.device)
        store, grounding = AttentionStore(), bool(self.grounding_weight or self.pixel_weight)
        with capture_cross_attention(self.unet, store) if grounding else contextlib.nullcontext():
            error = denoising_error(self.unet, self.scheduler, latents, states, t)  # (B, C, h, w)
        if self.object_weight:
            error = self.object_weights(batch["ink"], t, error.shape[-2:]) * error
        if not grounding:
            return error.mean()
        token, pixel = grounding_losses(store, batch["regions"], batch["grounded"])
        return error.mean() + self.grounding_weight * token + self.pixel_weight * pixel

    def object_weights(self, ink: torch.Tensor, t: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
        """(B, 1, h, w) loss weights, mean 1 per row, from the (B, 1, S, S) ink mask and timesteps `t` (B,)."""
        near = nn.functional.max_pool2d(ink, 2 * OBJECT_MARGIN + 1, stride=1, padding=OBJECT_MARGIN)
        weighted = (t < self.object_weight_max_t).float()[:, None, None, None]
        weights = 1 + weighted * self.object_weight * nn.functional.adaptive_avg_pool2d(near, latent_size)
        return weights / weights.mean(dim=(1, 2, 3), keepdim=True)


@dataclass
class ShapesDiffusionRecipe(RecipeConfig):
    """The shapes-diffusion schedule."""

    PRESETS = {"tiny": dict(preset="tiny", steps=2, batch_size=2, multi_object_steps=2, grounding_steps=2)}

    steps: int = 18000
    batch_size: int = 16
    lr: float = 5e-4
    warmup_steps: int = 500
    weight_decay: float = 0.01
    eval_every: int = 2000
    empty_prompt_prob: float = 0.1  # captions dropped for classifier-free guidance
    object_weight: float = 8.0  # extra loss weight near objects (DenoiserTraining); 0: plain MSE
    object_weight_max_t: int = 800  # ... at timesteps below this only
    mark_prob: float = 0.25  # images carrying the implicit corner mark captions never name (Geom-Erasing's concept)
    multi_object_steps: int = 4500  # then a second stage, a warm restart on scenes richer in objects (0: none)
    multi_object_lr: float = 1.5e-4  # ... its peak learning rate (warmup MULTI_OBJECT_WARMUP steps, then cosine)
    multi_object_counts: tuple[float, float, float] = MULTI_OBJECT_COUNTS  # ... its weights of 1, 2 and 3 objects
    grounding_steps: int = 3500  # then a third stage on that world with TokenCompose's token loss (0: none)
    grounding_weight: float = 0.01  # ... the token loss's weight beside the denoising MSE
    grounding_pixel_weight: float = 0.0  # ... and the pixel loss's
    grounding_lr: float = 1e-4  # ... its peak learning rate (warmup MULTI_OBJECT_WARMUP steps, then cosine)
    guidance: float = 5.0  # the pipeline's default classifier-free guidance (chosen on val prompts)
    text_encoder: str = "clip"  # or "minilm": frozen pretrained MiniLM states the UNet projects (gfx.image.minilm)


def build(config: ShapesDiffusionRecipe) -> ShapesDiffusionPipeline:
    """A freshly initialised pipeline of the preset and text encoder, with its tokenizer (CLIP's built from the
    shipped BPE, or MiniLM's) and the recipe's default guidance."""
    architecture = ShapesDiffusionConfig.from_name(config.preset, text_encoder=config.text_encoder)
    tokenizer = minilm_tokenizer() if config.text_encoder == "minilm" else clip_tokenizer(CLIP_BPE)
    pipe = ShapesDiffusionPipeline.build(architecture, tokenizer)
    pipe.register_to_config(guidance=config.guidance)
    return pipe


def stages(pipe: ShapesDiffusionPipeline, config: ShapesDiffusionRecipe, facts: dict, device: str) -> Iterator[Stage]:
    """UNet and text encoder on fresh world batches, validated on 4 batches of another seed; then, with
    `multi_object_steps`, a warm restart on a world where two and three objects are more frequent (the two-object
    gate is what the first stage leaves behind); then, with `grounding_steps`, one more on that world with the token
    grounding loss. A stage of 0 steps is skipped; a skipped first stage keeps the facts of the warm start's card."""
    model, size = DenoiserTraining(pipe, config.object_weight, config.object_weight_max_t), pipe.config.image_size

    def data(world: WorldConfig, region_size: int = 0):
        return world_data(config.batch_size, size, config.seed, config.empty_prompt_prob, pipe.tokenizer, world,
                          region_size=region_size)

    if config.steps:
        stage = Stage(None, model, *data(WorldConfig(mark_prob=config.mark_prob)), config.schedule())
        yield stage
        facts.update(preset=config.preset, parameters=parameter_count(model), batch_size=config.batch_size,
                     lr=config.lr, seed=config.seed, **run_facts(stage.result))
    else:
        facts.update(warm_start_facts(config.init_from))
    facts["text_encoder"] = config.text_encoder
    world = WorldConfig(mark_prob=config.mark_prob, object_counts=tuple(config.multi_object_counts))
    if config.multi_object_steps:
        tuning = Stage("multi-object", model, *data(world), config.schedule(
            steps=config.multi_object_steps, lr=config.multi_object_lr, warmup_steps=MULTI_OBJECT_WARMUP))
        yield tuning
        facts["multi_object"] = {"object_counts": list(config.multi_object_counts), "lr": config.multi_object_lr,
                                 **run_facts(tuning.result)}
    if config.grounding_steps:
        model.grounding_weight, model.pixel_weight = config.grounding_weight, config.grounding_pixel_weight
        grounding = Stage("grounding", model, *data(world, size // pipe.config.unshuffle), config.schedule(
            steps=config.grounding_steps, lr=config.grounding_lr, warmup_steps=MULTI_OBJECT_WARMUP))
        yield grounding
        facts["grounding"] = {"weight": config.grounding_weight, "pixel_weight": config.grounding_pixel_weight,
                              "lr": config.grounding_lr,
                              **run_facts(grounding.result)}


def warm_start(pipe: ShapesDiffusionPipeline, directory: Path) -> None:
    """Load the UNet and text-encoder weights of the pipeline saved in `directory` (the scheduler stays `pipe`'s).

    From a CLIP pipeline into a frozen-MiniLM one, the UNet is loaded but for the projection of the MiniLM states,
    which starts as the least-squares map onto the CLIP encoder's states (`fit_text_projection`).
    """
    saved = ShapesDiffusionPipeline.from_pretrained(str(directory), local_files_only=True)
    if saved.config.frozen_text_encoder == pipe.config.frozen_text_encoder:
        pipe.unet.load_state_dict(saved.unet.state_dict())
        if pipe.config.frozen_text_encoder is None:
            pipe.text_encoder.load_state_dict(saved.text_encoder.state_dict())
        return
    if saved.config.frozen_text_encoder is not None:
        raise ValueError(f"{directory} reads a frozen text encoder; warm-start a CLIP pipeline from a CLIP one")
    missing, unexpected = pipe.unet.load_state_dict(saved.unet.state_dict(), strict=False)
    if unexpected or any(not k.startswith("encoder_hid_proj.") for k in missing):
        raise ValueError(f"{directory}'s UNet differs from the recipe's beyond the text projection: "
                         f"missing {missing}, unexpected {unexpected}")
    fit_text_projection(pipe, saved)


def fit_text_projection(pipe: ShapesDiffusionPipeline, reference: ShapesDiffusionPipeline, captions: int = 3000,
                        ridge: float = 1.0) -> float:
    """Set `pipe`'s UNet text projection to the ridge least-squares map from its text states onto `reference`'s.

    Pairs are word-aligned on world captions: the start tokens, each word's last token, and the end token and
    padding after it position by position (the tokenizers split words differently).

    Returns:
        R^2 of the fit.
    """
    world, rng = WorldConfig(object_counts=MULTI_OBJECT_COUNTS), np.random.default_rng(0)
    prompts = [caption(sample_scene(rng, world), rng, world) for _ in range(captions)]
    inputs, targets = [], []
    for start in range(0, len(prompts), 100):
        chunk = [p for p in prompts[start:start + 100] if p]
        with torch.no_grad():
            x = encode_prompts(pipe, chunk).cpu()  # (B, T, D_in)
            y = encode_prompts(reference, chunk).cpu()  # (B, T, D)
        for i, prompt in enumerate(chunk):
            try:
                pairs = aligned_positions(pipe.tokenizer, reference.tokenizer, prompt)
            except ValueError:
                continue
            inputs.append(x[i, [a for a, _ in pairs]])
            targets.append(y[i, [b for _, b in pairs]])
    x, y = torch.cat(inputs).double(), torch.cat(targets).double()
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    solution = torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y)  # (D_in + 1, D)
    with torch.no_grad():
        pipe.unet.encoder_hid_proj.weight.copy_(solution[:-1].T)
        pipe.unet.encoder_hid_proj.bias.copy_(solution[-1])
    r2 = float(1 - (y - x @ solution).var(0).sum() / y.var(0).sum())
    log.info("text projection fitted on %d word-aligned tokens: R^2 %.3f", len(x), r2)
    return r2


def aligned_positions(tokenizer, other, prompt: str) -> list[tuple[int, int]]:
    """Token positions of `prompt` that mean the same under two tokenizers: start, each word's last token, then the
    end token and the padding after it (up to both tokenizers' `model_max_length`)."""
    words = zip(word_positions(tokenizer, prompt), word_positions(other, prompt), strict=True)
    pairs = [(0, 0)] + [(a[-1], b[-1]) for a, b in words]
    ends = end_position(tokenizer, prompt), end_position(other, prompt)
    shared = min(tokenizer.model_max_length - ends[0], other.model_max_length - ends[1])
    return pairs + [(ends[0] + k, ends[1] + k) for k in range(shared)]


def card(name: str, facts: dict) -> Card:
    """The shapes-diffusion model card from its facts."""
    return Card(
        title=name,
        summary="Text -> image diffusion of gfx on the procedural 2D world: a diffusers UNet over pixel-unshuffled "
        f"images,\nconditioned on {CONDITIONING[facts.get('text_encoder', 'clip')]}, v-prediction loss.",
        datasets=("gfx.data.shapes2d (procedural, generated by gfx)",),
        tags=("text-to-image", "diffusion", "shapes2d"),
        data="Scenes of the procedural 2D world (`gfx.data.shapes2d`), drawn fresh for every batch and seeded by "
        f"(seed, epoch, batch), with captions; {facts['batch_size']} scenes per step.",
        run=run_lines(facts, "v-prediction MSE") + stage_lines(facts),
        metrics=(image_tables(facts["eval"]) if "eval" in facts else []) + (
            ablation_tables(facts["ablation"]) if "ablation" in facts else []),
        notes=image_notes(facts["eval"]) if "eval" in facts else [],
        use=f"""
from gfx.image.pipeline import ShapesDiffusionPipeline
pipe = ShapesDiffusionPipeline.from_pretrained("models/{name}", local_files_only=True)
images = pipe("a large red circle to the left of a large blue star", n=4, seed=0)   # guidance: the config's
""",
    )


def stage_lines(facts: dict) -> list[str]:
    """The run-history lines of the multi-object and grounding stages, when there were some."""
    lines = []
    if m := facts.get("multi_object"):
        weights = " / ".join(f"{w:g}" for w in m["object_counts"])
        lines.append(f"multi-object stage: {m['steps']} steps from peak lr {m['lr']} on scenes of 1 / 2 / 3 objects "
                     f"weighted {weights}; wall time {minutes(m['train_wall_time_s'])}; final train loss "
                     f"{m['train_loss']}, validation loss {m['val_loss']} (on that world)")
    if g := facts.get("grounding"):
        lines.append(f"grounding stage: {g['steps']} steps from peak lr {g['lr']} on the multi-object world with "
                     f"TokenCompose's token loss at weight {g['weight']} (each object phrase's cross-attention kept "
                     f"on its object's silhouette); wall time {minutes(g['train_wall_time_s'])}; final train loss "
                     f"{g['train_loss']}, validation loss {g['val_loss']} (MSE + weighted token loss)")
    return lines


def image_tables(e: dict) -> list[Table]:
    """The `gfx eval image` report as tables: quality gate, ToMe binding, T2IS sets."""
    settings = f"{e['seeds']} seeds per prompt, {e['steps']} DDIM steps, guidance {e['guidance']}"
    gate = e["quality_gate"]
    tables = [Table(f"`gfx eval image --split {e['split']}`: quality gate ({settings}; world detectors).",
                    ["single object: shape + colour", "two objects: both shapes", "passed"],
                    [[f"{gate['single_object']:.3f} (>= {gate['targets']['single_object']})",
                      f"{gate['two_objects']:.3f} (>= {gate['targets']['two_objects']})", str(gate["passed"])]])]
    rows = [[k.replace("_", " "), str(t["prompts"]), f"{t['without']['accuracy']:.3f} ± {t['without']['seed_std']:.3f}",
             f"{t['with']['accuracy']:.3f} ± {t['with']['seed_std']:.3f}", f"{t['rise']:+.3f} ± {t['rise_seed_std']:.3f}"]
            for k, t in e["tome"].items()]
    tables.append(Table("ToMe: attribute binding (every asked (shape, colour) pair drawn), same prompts and seeds; "
                        "± is the spread over seeds.", ["prompts", "n", "without", "with ToMe", "rise"], rows))
    t2is = e["t2is"]
    rows = [[family, way, f"{t2is[family][way]['consistency']:.3f}", f"{t2is[family][way]['alignment']:.3f}"]
            for family in ("stated", "open colour") for way in ("independent", "shared")]
    tables.append(Table(f"T2IS: {t2is['sets']} sets of {t2is['set_size']} images, shared attention for the first "
                        f"{t2is['shared_steps']} steps against independent samples.",
                        ["description", "sampling", "set consistency", "alignment"], rows))
    return tables


def ablation_tables(a: dict) -> list[Table]:
    """The `gfx eval image-ablation` report as tables: ToMe's parts, T2IS's sampling modes."""
    settings = f"{a['split']} prompts, {a['seeds']} seeds, guidance {a['guidance']}"
    tome = a["tome"]
    rows = [["plain", f"{tome['plain']['accuracy']:.3f} ± {tome['plain']['seed_std']:.3f}", ""]]
    rows += [[name, f"{v['accuracy']:.3f} ± {v['seed_std']:.3f}", f"{v['rise']:+.3f} ± {v['rise_seed_std']:.3f}"]
             for name, v in tome.items() if name not in ("prompts", "plain")]
    tables = [Table(f"`gfx eval image-ablation --split {a['split']}`: ToMe's parts on {tome['prompts']} two-object "
                    f"prompts ({settings}); binding accuracy and its rise over the plain model.",
                    ["variant", "binding", "rise"], rows)]
    t2is = a["t2is"]
    rows = [[mode, *(f"{t2is[family][mode]['consistency']:.3f} / {t2is[family][mode]['alignment']:.3f}"
                     for family in ("stated", "open colour"))] for mode in t2is["stated"]]
    tables.append(Table(f"T2IS sampling modes: {t2is['sets']} sets of {t2is['set_size']} images per family "
                        f"({a['split']}, guidance {a['guidance']}); set consistency / alignment.",
                        ["mode", "stated", "open colour"], rows))
    return tables


def image_notes(e: dict) -> list[str]:
    """The detectors' own accuracy on world renders (the yardstick) and the evaluation's time."""
    accuracies = ", ".join(f"{k} {v:.3f}" for k, v in e["detectors"].items())
    return [f"Detector accuracy on world renders: {accuracies}. The evaluation took {e['seconds'] / 60:.0f} min on "
            "one CPU thread."]


RECIPE = Recipe(
    name="shapes-diffusion",
    model_name="shapes-diffusion",
    config_class=ShapesDiffusionRecipe,
    build=build,
    warm_start=warm_start,
    stages=stages,
    save=lambda pipe, path: pipe.save_half(path),
    load=lambda path: ShapesDiffusionPipeline.from_pretrained(path, local_files_only=True),
    evaluate=lambda pipe, config: evaluate_image("test", config.eval_limit or 0, model=pipe),
    card=card,
)
