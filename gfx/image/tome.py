"""ToMe (Hu et al., NeurIPS 2024): token merging for training-free semantic binding, as a denoising hook.

    results = pipe("a large red circle to the left of a small blue star", controls=[ToMe()])
    ToMe(phrases=["large red circle", "small blue star"])     # explicit object phrases (last word: the noun)

What it does to each prompt (official code: hutaiHang/ToMe, an SDXL pipeline; here generic over any UNet):
1. Object phrases: explicit `phrases` or `groups`, else the rule-based grouper (`gfx.image.phrases`).
2. Token merging: each phrase's noun token becomes a composite token, 1.1 x noun + 1.2 x its attributes; the
   attribute tokens become zero (`gfx.image.prompt_ops.merge_tokens`).
3. End-token substitution: the end-of-text and padding states are those of the prompt without attributes
   ("a circle and a star"), so they stop carrying every attribute to every object.
4. For the first `binding_steps` steps, the semantic-binding loss: the noise predicted from the composite token
   alone (a one-token sequence) should match the noise predicted from its phrase alone ("a large red circle");
   a few gradient steps on the composite tokens.
5. For the first `entropy_steps` steps, the entropy loss: each composite token's cross-attention map (conditional
   branch, the layers at the chosen resolution) should be concentrated; gradient steps on the latents and the
   prompt states until the entropy is below `entropy_target` x log(HW) or after `refinements` iterations, with a
   step size that decays linearly over these steps.

Deviations, kept small and named: the semantic-binding target is predicted from the current latent (the
official code advances a separate latent per phrase); updates move a tensor by a fraction of its own norm along
the normalized gradient (the official plain steps, 10000 and 3, are tuned to SDXL's loss scale); the stopping
threshold is relative to the maximum entropy log(HW) instead of SDXL's absolute per-step table; a map is
normalized by its sum only (the official min-max step first would give a flat map zero entropy).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gfx.image.attention import AttentionStore, capture_cross_attention
from gfx.image.denoise import encode_prompts
from gfx.image.phrases import (
    Phrase,
    find_phrases,
    nouns_only_prompt,
    object_phrases,
    phrase_text,
    prompt_words,
)
from gfx.image.prompt_ops import (
    TokenGroup,
    end_position,
    merge_tokens,
    substitute_end_tokens,
    token_group,
    word_positions,
)

log = logging.getLogger(__name__)


def normalized_step(x: torch.Tensor, grad: torch.Tensor, size: float) -> torch.Tensor:
    """`x` moved against `grad` by `size` x its norm, per row (dim 0)."""
    dims = tuple(range(1, x.ndim))
    g_norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * len(dims))
    x_norm = x.flatten(1).norm(dim=1).view(-1, *[1] * len(dims))
    return x - size * x_norm * grad / g_norm


def composite_entropy(maps: torch.Tensor, groups: Sequence[TokenGroup], end: int,
                      temperature: float = 0.5) -> torch.Tensor:
    """Entropy of each composite token's spatial attention, over pixels.

    Args:
        maps: (HW, T) one image's cross-attention probabilities (heads and layers averaged).
        end: position of the end-of-text token; the text tokens are 1..end-1.

    Returns:
        (len(groups),) entropies in nats (at most log HW).
    """
    text = (maps[:, 1:end] / temperature).softmax(-1)  # (HW, end - 1): attention shared among the text tokens
    entropies = []
    for g in groups:
        column = text[:, g.composite - 1]
        p = column / column.sum().clamp_min(1e-12)
        entropies.append(-(p * (p + 1e-12).log()).sum())
    return torch.stack(entropies)


class ToMe:
    """Token merging, end-token substitution and the two ToMe losses, as a hook for `gfx.image.denoise`.

    Args:
        phrases: the object phrases of the prompt ("large red circle", ...); or
        groups: explicit `Phrase`s (word positions of `gfx.image.phrases.prompt_words`); neither: the rule-based
            grouper over the 2D world's words.
        merge, end_token_substitution: the two prompt edits (steps 2 and 3).
        binding_steps, binding_iterations, binding_step_size: the semantic-binding loss (step 4).
        entropy_steps, refinements, entropy_step_size, entropy_target: the entropy loss (step 5).
        temperature: of the softmax over text tokens before the entropy.
        queries: the cross-attention layers read (HW); None: the resolution with the most layers.

    The defaults control 3 of 25 steps with up to 3 refinements and 2 binding steps: ToMe then costs 1.8x plain
    sampling on the mini architecture even when every refinement runs (bench/image.py); the official SDXL
    settings (5-7 steps, 4-6 refinements, 3 binding iterations) run more extra UNet passes (not measured here).

    After a run, `history` holds per controlled step the loss of every iteration: {"step", "entropy":
    [...], "binding": [...]}, entropy as a fraction of log(HW) averaged over the composite tokens.
    """

    def __init__(self, phrases: Sequence[str] | None = None, groups: Sequence[Phrase] | None = None, *,
                 merge: bool = True, end_token_substitution: bool = True, binding_steps: int = 2,
                 binding_iterations: int = 2, binding_step_size: float = 0.05, entropy_steps: int = 3,
                 refinements: int = 3, entropy_step_size: float = 0.03, entropy_target: float = 0.6,
                 temperature: float = 0.5, queries: int | None = None):
        if phrases is not None and groups is not None:
            raise ValueError("give ToMe either phrases or groups, not both")
        self.phrases, self.groups = phrases, groups
        self.merge, self.end_token_substitution = merge, end_token_substitution
        self.binding_steps, self.binding_iterations = binding_steps, binding_iterations
        self.binding_step_size = binding_step_size
        self.entropy_steps, self.refinements = entropy_steps, refinements
        self.entropy_step_size, self.entropy_target = entropy_step_size, entropy_target
        self.temperature, self.queries = temperature, queries
        self.history: list[dict] = []

    # -- setup: token groups and the auxiliary prompts' states -----------------------------------------------

    def phrases_of(self, words: Sequence[str]) -> list[Phrase]:
        if self.groups is not None:
            return list(self.groups)
        if self.phrases is not None:
            return find_phrases(words, self.phrases)
        return object_phrases(words)

    def setup(self, pipe, prompts: Sequence[str] | None) -> None:
        if prompts is None:
            raise ValueError("ToMe needs the prompt texts: run it through text_to_image or pass prompts= to denoise")
        self.pipe, self.history = pipe, []
        self.token_groups, self.ends, anchors, plain = [], [], [], []
        for prompt in prompts:
            words = prompt_words(prompt)
            phrases = self.phrases_of(words)
            if not phrases:
                log.warning("ToMe found no object phrase in %r; it leaves this prompt alone", prompt)
            positions = word_positions(pipe.tokenizer, prompt)
            self.token_groups.append([token_group(positions, p) for p in phrases])
            self.ends.append(end_position(pipe.tokenizer, prompt))
            anchors.append([phrase_text(words, p) for p in phrases])
            plain.append(nouns_only_prompt(words, phrases) if phrases else prompt)
        self.nouns_only = encode_prompts(pipe, plain)  # (B, T, D)
        flat = [a for per_prompt in anchors for a in per_prompt]
        self.anchor_states = encode_prompts(pipe, flat) if flat else None  # (G, T, D)

    # -- the hook ---------------------------------------------------------------------------------------------

    def before_step(self, step: int, t, latents: torch.Tensor, cond: torch.Tensor):
        if not any(self.token_groups):
            return latents, cond
        record = {"step": step, "entropy": [], "binding": []}
        if step == 0:
            cond = self.edit_prompts(cond)
        if step < self.binding_steps and self.binding_iterations:
            cond = self.bind(t, latents, cond, record["binding"])
        if step < self.entropy_steps and self.refinements:
            decay = 1 - step / self.entropy_steps
            latents, cond = self.refine(t, latents, cond, decay, record["entropy"])
        if record["entropy"] or record["binding"]:
            self.history.append(record)
        return latents, cond

    def edit_prompts(self, cond: torch.Tensor) -> torch.Tensor:
        """Token merging and end-token substitution on (B, T, D) prompt states."""
        rows = []
        for b, states in enumerate(cond):
            if self.merge:
                states = merge_tokens(states, self.token_groups[b])
            if self.end_token_substitution and self.token_groups[b]:
                states = substitute_end_tokens(states, self.nouns_only[b], self.ends[b])
            rows.append(states)
        return torch.stack(rows)

    def unet(self, latents: torch.Tensor, t, states: torch.Tensor) -> torch.Tensor:
        scheduler = self.pipe.scheduler
        return self.pipe.unet(scheduler.scale_model_input(latents, t), t, encoder_hidden_states=states).sample

    def bind(self, t, latents: torch.Tensor, cond: torch.Tensor, losses: list) -> torch.Tensor:
        """Semantic-binding loss: gradient steps on the composite tokens; returns the updated (B, T, D) states."""
        owners = [(b, g.composite) for b, groups in enumerate(self.token_groups) for g in groups]
        rows = torch.tensor([b for b, _ in owners])
        z = latents[rows]  # (G, C, h, w)
        with torch.no_grad():
            target = self.unet(z, t, self.anchor_states)
        tokens = torch.stack([cond[b, p] for b, p in owners])[:, None]  # (G, 1, D)
        with torch.enable_grad():
            for _ in range(self.binding_iterations):
                tokens = tokens.detach().requires_grad_(True)
                loss = F.mse_loss(self.unet(z, t, tokens), target)
                (grad,) = torch.autograd.grad(loss, tokens)
                losses.append(float(loss.detach()))
                tokens = normalized_step(tokens, grad, self.binding_step_size)
        cond = cond.clone()
        for k, (b, p) in enumerate(owners):
            cond[b, p] = tokens[k, 0].detach()
        return cond

    def entropies(self, store: AttentionStore) -> torch.Tensor:
        """(G,) composite-token entropies of the last call, as fractions of log(HW)."""
        maps = store.maps(self.queries).mean(1)  # (B, HW, T)
        values = [composite_entropy(maps[b], groups, self.ends[b], self.temperature)
                  for b, groups in enumerate(self.token_groups) if groups]
        return torch.cat(values) / torch.log(torch.tensor(float(maps.shape[1])))

    def refine(self, t, latents: torch.Tensor, cond: torch.Tensor, decay: float, losses: list):
        """Entropy loss: gradient steps on the latents and the prompt states until the composite tokens'
        attention is concentrated enough."""
        store = AttentionStore(self.queries)
        with capture_cross_attention(self.pipe.unet, store), torch.enable_grad():
            for _ in range(self.refinements):
                z = latents.detach().requires_grad_(True)
                states = cond.detach().requires_grad_(True)
                store.clear()
                self.unet(z, t, states)
                entropy = self.entropies(store)
                losses.append(float(entropy.detach().mean()))
                if bool((entropy < self.entropy_target).all()):
                    break
                grad_z, grad_states = torch.autograd.grad(entropy.sum(), [z, states])
                size = self.entropy_step_size * decay
                latents = normalized_step(z, grad_z, 0.5 * size).detach()
                cond = normalized_step(states, grad_states, size).detach()
        return latents, cond
