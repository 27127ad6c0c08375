"""CoRe (Wu et al., AAAI 2025): learn a new concept word from a few images so that it also composes in context
("a <cross> above a blue circle"), and plain textual inversion (Gal et al. 2023), the baseline it improves on.
One training module serves both; the only difference is CoRe's regularizers and norm rescaling.

    model = ConceptTraining(pipe, ConceptConfig("<cross>", init_word="star", method="core"))
    model.loss(batch)          # batch: concept_batch(...); trained by gfx.train (recipe: gfx.recipes.concept)
    model.identity_stage()     # stage 2 (optional): the UNet fine-tunes on the images, S* frozen
    model.concept().save("out/cross")     # learned_embeds.safetensors + concept.json (+ unet.safetensors)
    pipe("a <cross> above a blue circle", controls=[Concept("out/cross")])
    sd_pipe.load_textual_inversion("out/cross")             # diffusers reads the same file

The method (no official code; our reading of the paper in docs/papers.md):
1. A new token S* is added to the tokenizer, its input embedding starts from the class word's (`init_word`) and
   is the only thing that trains (injected at the text encoder's input; every weight frozen).
2. Diffusion loss on the concept's images captioned with S* (`concept_batch`).
3. Context prompts (no images): a template filled with S* (y*) and with the class word (y_cat), token for token
   aligned. Context embedding regularization: L_emb = mean over the positions i != k of y* (BOS to EOT) of
   1 - cos(E(y*)_i, E(y_cat)_i) on the text encoder's outputs. Context attention regularization: both output
   sequences go through the UNet on the same noisy latent; mu_i = the mean of token i's cross-attention
   probabilities over every layer, head and query; L_attn = mean over i != k of (mu*_i - mu_cat_i)^2.
4. L = L_diffusion + emb_weight L_emb + attn_weight L_attn.
5. Norm rescaling: in the middle of training (the `rescale` window, 120-180 of 300 steps in the paper) the norm of
   S* is reset after each optimizer step to what it was before it (`after_step`).
6. Stage 2 (`identity_stage`, the paper's "embedding-to-identity"): S* frozen, the UNet fine-tunes on the concept's
   images under the diffusion loss alone. A word cannot make a UNet draw a shape it never drew (our world model
   and a cross); this stage can. The fine-tuned weights travel with the concept (`unet.safetensors`) and replace
   the pipeline's UNet weights while a `Concept` control samples.
Textual inversion: steps 1, 2 and nothing else. When S* equals the class word's embedding both regularizers are
exactly zero: y* and y_cat are then the same token sequence as far as the text encoder can tell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gfx.config import ConfigMixin
from gfx.image.attention import AttentionStore, capture_cross_attention
from gfx.image.codec import latent_codec
from gfx.image.denoise import checked_window, in_window, token_ids
from gfx.image.diffusion_loss import denoising_error, noised
from gfx.image.prompt_ops import end_token_id
from gfx.image.token_injection import (
    EMBEDDINGS_NAME,
    add_placeholder_tokens,
    inject_embeddings,
    load_vectors,
    save_vectors,
    set_token_embeddings,
)

CONFIG_NAME = "concept.json"
UNET_NAME = "unet.safetensors"
METHODS = ("core", "textual-inversion")
TEMPLATES = ("a {}", "a large {}", "a small {}", "one {}")
"""Captions of the concept's images for the diffusion loss, when none are given."""
CONTEXT_TEMPLATES = (
    "a red {}", "a blue {} on a dark background", "a large striped {}", "a large outlined green {}",
    "a {} above a blue circle", "a yellow {} to the left of a small red heart", "a large dotted purple {}",
    "a small orange {} below a large green square", "a {} on a dark background", "two large blue {} shapes",
)  # fmt: skip
"""CoRe's context prompts in the 2D world's words: colour, background, style and composition changes."""


@dataclass
class ConceptConfig(ConfigMixin):
    """A concept to learn and how.

    Attributes:
        token: the new word, in angle brackets, e.g. "<cross>".
        init_word: the class word: it starts S* and fills the context prompts y_cat (one token).
        method: "core" or "textual-inversion".
        emb_weight, attn_weight: CoRe's lambda_emb and lambda_attn (the paper's values).
        rescale: (start, end) of the norm-rescaling window as fractions of the steps (the paper's 120-180 of 300).
        unet_window: `Concept`'s default window: the fractions of the denoising steps in which a stage-2 UNet
            samples (None: all of them).
    """

    token: str = "<cross>"
    init_word: str = "star"
    method: str = "core"
    emb_weight: float = 1.5e-4
    attn_weight: float = 0.05
    rescale: tuple[float, float] = (0.4, 0.6)
    unet_window: tuple[float, float] | None = None

    def __post_init__(self):
        checked_window(self.unet_window, "unet_window")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not (self.token.startswith("<") and self.token.endswith(">")) or " " in self.token:
            raise ValueError(f"token {self.token!r} must be one word in angle brackets, e.g. '<cross>'")

    @property
    def regularized(self) -> bool:
        return self.method == "core"


def class_token(tokenizer, word: str) -> int:
    """The id of `word`, which must be one token of `tokenizer`."""
    ids = tokenizer(word, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"init_word {word!r} is {len(ids)} tokens; CoRe's context prompts need a one-token class "
                         "word (e.g. 'star')")
    return ids[0]


def context_ids(tokenizer, templates: Sequence[str], token: str, word: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(y*, y_cat): (B, T) ids of `templates` filled with `token` and with `word`, aligned token for token.

    Raises ValueError for a template where they differ elsewhere than at the concept (e.g. "{}s": "stars" is one
    token).
    """
    star, cat = token_ids(tokenizer, [t.format(token) for t in templates]), token_ids(
        tokenizer, [t.format(word) for t in templates])
    token_id, word_id = tokenizer.convert_tokens_to_ids(token), class_token(tokenizer, word)
    differ = (star != cat) & ~((star == token_id) & (cat == word_id))
    if differ.any():
        bad = templates[int(differ.any(1).nonzero()[0])]
        raise ValueError(f"context template {bad!r} tokenizes differently around {token} and {word}; "
                         "write the concept as a word of its own")
    return star, cat


def context_positions(ids: torch.Tensor, token: int, end: int) -> torch.Tensor:
    """(B, T) bool: the positions of each y* that CoRe regularizes: BOS to the first `end` (EOT), but not `token`."""
    positions = torch.arange(ids.shape[1], device=ids.device)
    eot = (ids == end).int().argmax(1)  # (B,)
    return (positions[None] <= eot[:, None]) & (ids != token)


def context_embedding_loss(star: torch.Tensor, cat: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos over the kept positions. star, cat: (B, T, D) text-encoder outputs; keep: (B, T) bool."""
    return (1 - F.cosine_similarity(star, cat, dim=-1))[keep].mean()


def token_attention(store: AttentionStore) -> torch.Tensor:
    """(B, T): each token's cross-attention probability averaged over every recorded layer, head and query."""
    per_layer = [probs.mean((1, 2)) for layers in store.layers.values() for probs in layers.values()]
    if not per_layer:
        raise RuntimeError("no cross-attention was recorded; the UNet has no cross-attention layers")
    return torch.stack(per_layer).mean(0)


def context_attention_loss(star: torch.Tensor, cat: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of (mu*_i - mu_cat_i)^2 over the kept positions. star, cat: (B, T) from `token_attention`."""
    return ((star - cat) ** 2)[keep].mean()


def concept_batch(tokenizer, pixels: torch.Tensor, captions: Sequence[str], config: ConceptConfig,
                  contexts: Sequence[str]) -> dict[str, torch.Tensor]:
    """A training batch: {"pixels": (B, 3, S, S), "input_ids": (B, T) captions with "{}" filled by the token,
    "context_ids", "class_ids": (B', T) y* and y_cat of the context templates `contexts`}."""
    star, cat = context_ids(tokenizer, contexts, config.token, config.init_word)
    return {"pixels": pixels, "input_ids": token_ids(tokenizer, [c.format(config.token) for c in captions]),
            "context_ids": star, "class_ids": cat}


@dataclass(frozen=True, eq=False)
class LearnedConcept:
    """A learned word: its config, its (D,) input embedding and, after stage 2, the fine-tuned UNet's state dict."""

    config: ConceptConfig
    vector: torch.Tensor
    unet: dict[str, torch.Tensor] | None = None

    @classmethod
    def load(cls, directory: str | Path) -> LearnedConcept:
        """Read what `save` wrote."""
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / EMBEDDINGS_NAME).is_file() or not (directory / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"{directory} holds no learned concept ({EMBEDDINGS_NAME} + {CONFIG_NAME}); "
                                    "learn one with `gfx image learn-concept` or `gfx train core-concept`")
        config = ConceptConfig.from_json(directory / CONFIG_NAME)
        vectors = load_vectors(directory / EMBEDDINGS_NAME)
        if config.token not in vectors:
            raise ValueError(f"{directory / EMBEDDINGS_NAME} lacks the vector of {config.token}")
        unet = load_file(str(directory / UNET_NAME)) if (directory / UNET_NAME).is_file() else None
        return cls(config, vectors[config.token], unet)

    def save(self, directory: str | Path) -> Path:
        """Write `learned_embeds.safetensors` ({token: (D,)}, diffusers' textual-inversion file), concept.json and,
        after stage 2, `unet.safetensors` (the fine-tuned UNet's state dict in float16)."""
        from safetensors.torch import save

        from gfx.files import write_bytes, write_text

        directory = Path(directory)
        save_vectors(directory / EMBEDDINGS_NAME, {self.config.token: self.vector})
        if self.unet is not None:
            write_bytes(directory / UNET_NAME, save({k: v.detach().half().contiguous() for k, v in self.unet.items()}))
        write_text(directory / CONFIG_NAME, self.config.to_json())
        return directory

    def install(self, pipe) -> int:
        """Put the vector into `pipe`'s tokenizer and embedding table (adding the token); returns its id."""
        return set_token_embeddings(pipe.tokenizer, pipe.text_encoder, {self.config.token: self.vector})[0]


class Concept:
    """A control: prompts may use a learned concept's word ("a <cross> above a blue circle").

    Args:
        source: a directory written by `LearnedConcept.save` (`gfx image learn-concept`), or a `LearnedConcept`.
        window: (start, end) fractions of the denoising steps (0: pure noise) in which a stage-2 concept's
            fine-tuned UNet replaces the pipeline's; the pipeline's own UNet runs the other steps (e.g. (0.3, 1): the
            base lays out the picture, the fine-tuned UNet draws the concept into it). None: the concept's own
            `ConceptConfig.unet_window`, every step when None too.
    """

    def __init__(self, source: str | Path | LearnedConcept, window: tuple[float, float] | None = None):
        self.concept = source if isinstance(source, LearnedConcept) else LearnedConcept.load(source)
        self.window = checked_window(window if window is not None else self.concept.config.unet_window)

    @property
    def token(self) -> str:
        return self.concept.config.token

    def prepare(self, pipe) -> None:
        self.concept.install(pipe)

    def setup(self, pipe, prompts=None) -> None:
        """With a stage-2 concept, the fine-tuned weights replace the UNet's (in the window's steps) until
        `teardown`."""
        self._original, self._pipe, self._tuned_in = None, pipe, False
        if self.concept.unet is None:
            return
        unet = pipe.unet
        self._original = {k: v.detach().clone() for k, v in unet.state_dict().items()}
        tuned = self.concept.unet
        if tuned.keys() != self._original.keys() or any(tuned[k].shape != v.shape for k, v in self._original.items()):
            raise ValueError(f"the concept {self.token} was fine-tuned on another model's UNet; use it with the "
                             "pipeline it was learned on")
        if self.window is None:
            self._use_tuned(True)

    def before_step(self, step, t, latents, cond):
        if self._original is not None and self.window is not None:
            self._use_tuned(in_window(self.window, step / len(self._pipe.scheduler.timesteps)))
        return latents, cond

    def _use_tuned(self, tuned: bool) -> None:
        if tuned != self._tuned_in:
            weights = self.concept.unet if tuned else self._original
            self._pipe.unet.load_state_dict({k: v.to(self._original[k].dtype) for k, v in weights.items()})
            self._tuned_in = tuned

    def teardown(self, pipe) -> None:
        if getattr(self, "_original", None) is not None:
            pipe.unet.load_state_dict(self._original)
            self._original = None


class ConceptTraining(nn.Module):
    """Textual inversion, with CoRe's context regularization and norm rescaling when `config.method` is "core".

    Batches: `concept_batch`. Only `vector` ((D,), the token's input embedding) trains; after `identity_stage` only the UNet,
    and a batch with "prior_pixels" (B', 3, S, S) and "prior_ids" (B', T) (other scenes and their captions) adds their
    diffusion loss (DreamBooth's prior preservation, weight 1).

    Args:
        pipe: any pipeline with `unet`, `text_encoder`, `tokenizer`, `scheduler` (and `vae`); the token is added.
    """

    def __init__(self, pipe, config: ConceptConfig | None = None):
        super().__init__()
        self.settings = config = config or ConceptConfig()
        word = class_token(pipe.tokenizer, config.init_word)
        [self.token_id] = add_placeholder_tokens(pipe.tokenizer, pipe.text_encoder, [config.token])
        table = pipe.text_encoder.get_input_embeddings().weight
        self.vector = nn.Parameter(table[word].detach().float().clone())  # (D,)
        self.end_id = end_token_id(pipe.tokenizer)
        self.pipe, self.unet, self.text_encoder, self.vae = pipe, pipe.unet, pipe.text_encoder, getattr(pipe, "vae", None)
        self.codec, self.scheduler = latent_codec(pipe), pipe.scheduler
        for module in (self.unet, self.text_encoder, self.vae):
            if module is not None:
                module.requires_grad_(False)
        self._norm_before: torch.Tensor | None = None

    def identity_stage(self) -> None:
        """Stage 2: from now on S* is frozen and the UNet trains, under the diffusion loss alone."""
        self.vector.requires_grad_(False)
        self.unet.requires_grad_(True)

    @property
    def tunes_unet(self) -> bool:
        """In stage 2 (`identity_stage`): the frozen word is how it shows."""
        return not self.vector.requires_grad

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T, D) text-encoder outputs of `ids` with the concept's current vector."""
        with inject_embeddings(self.text_encoder, {self.token_id: self.vector}):
            return self.text_encoder(ids)[0]

    def regularizers(self, batch: dict[str, torch.Tensor], latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"emb": L_emb, "attn": L_attn} on the batch's context prompts; latents: (B, C, h, w) clean."""
        ids = batch["context_ids"]
        keep = context_positions(ids, self.token_id, self.end_id)
        star = self.encode(ids)  # (B', T, D)
        with torch.no_grad():
            cat = self.text_encoder(batch["class_ids"])[0]
        terms = {"emb": context_embedding_loss(star, cat, keep)}
        if self.settings.attn_weight:
            rows = torch.arange(len(ids), device=latents.device) % len(latents)
            noisy, _, t = noised(self.scheduler, latents[rows])
            store = AttentionStore()
            with capture_cross_attention(self.unet, store):
                self.unet(torch.cat([noisy, noisy]), torch.cat([t, t]), encoder_hidden_states=torch.cat([star, cat]))
            mu_star, mu_cat = token_attention(store).chunk(2)  # (B', T) each
            terms["attn"] = context_attention_loss(mu_star, mu_cat.detach(), keep)
        return terms

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self._norm_before = self.vector.detach().norm()
        with torch.no_grad():
            latents = self.codec.encode(batch["pixels"])  # (B, C, h, w)
        loss = denoising_error(self.unet, self.scheduler, latents, self.encode(batch["input_ids"])).mean()
        if self.tunes_unet and "prior_pixels" in batch:  # prior preservation: the UNet keeps drawing the world
            with torch.no_grad():
                prior = self.codec.encode(batch["prior_pixels"])
            loss = loss + denoising_error(self.unet, self.scheduler, prior, self.encode(batch["prior_ids"])).mean()
        if self.settings.regularized and not self.tunes_unet:
            terms = self.regularizers(batch, latents)
            loss = loss + self.settings.emb_weight * terms["emb"]
            if "attn" in terms:
                loss = loss + self.settings.attn_weight * terms["attn"]
        return loss

    def after_step(self, step: int, steps: int) -> None:
        """CoRe's rescaling: inside the window, the vector keeps the norm it had before the step's update."""
        start, end = self.settings.rescale
        if (self.settings.regularized and not self.tunes_unet and self._norm_before is not None
                and start * steps <= step - 1 < end * steps):
            with torch.no_grad():
                self.vector.mul_(self._norm_before / self.vector.norm())

    def concept(self) -> LearnedConcept:
        """The current vector (and after stage 2 the UNet's weights) as a learned concept."""
        unet = {k: v.detach().clone() for k, v in self.unet.state_dict().items()} if self.tunes_unet else None
        return LearnedConcept(self.settings, self.vector.detach().clone(), unet)
