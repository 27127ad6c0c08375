"""Training data for StarVector: corpus icons rendered to images (augmented) paired with their tokens.

Per sample (StarVector's augmentations, docs/papers.md, all switched on here):
1. geometry: with `geometry_prob`, a random scale about the centre and a shift that keeps the icon on
   the canvas, applied to the document, so the target tokens move with the picture;
2. stroke width: with `width_prob`, every stroke width times one random factor (tokens snap it to a level);
3. the document is encoded (`BOS ... EOS`; an augmented icon over `max_tokens` falls back to the plain one)
   and rendered with cairosvg at `image_size` on white, in a random dark ink colour with `color_prob`;
4. image: a Gaussian blur with `blur_prob`, pixel noise with `noise_prob`.
Batches pad tokens on the right and carry the images as "image" (B, 3, S, S) float in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gfx.recipes.batching import Batches
from gfx.svg.core.document import Document, Path
from gfx.svg.tokenizers.path import PathTokenizer
from gfx.svg.tokenizers.vocab import PAD_ID


@dataclass(frozen=True)
class ImageAugmentConfig:
    """Probabilities and ranges of the per-sample transforms."""

    geometry_prob: float = 0.5
    scale: tuple[float, float] = (0.7, 1.05)
    width_prob: float = 0.3
    width_factor: tuple[float, float] = (0.7, 1.5)
    color_prob: float = 0.3
    blur_prob: float = 0.3
    blur_radius: tuple[float, float] = (0.3, 1.0)  # pixels
    noise_prob: float = 0.3
    noise_std: tuple[float, float] = (0.01, 0.05)


def load_documents(records: Sequence, tokenizer: PathTokenizer, max_tokens: int) -> list[Document]:
    """Parse normalized corpus records; icons longer than `max_tokens` tokens are left out."""
    from gfx.svg.core.parse import parse_svg

    docs = [parse_svg(r.svg) for r in records]
    return [d for d in docs if len(tokenizer.encode(d)) <= max_tokens]


def transform_document(doc: Document, scale: float, shift: np.ndarray, width_factor: float) -> Document:
    """Scale every point by `scale` about the viewBox centre, then shift by `shift` (2,), viewBox units."""
    x0, y0, w, h = doc.view_box
    centre = np.array([x0 + w / 2, y0 + h / 2])
    out = []
    for p in doc.paths:
        pts = (p.points - centre) * scale + centre + shift
        out.append(Path(p.commands, pts.reshape(-1), p.style.replace(stroke_width=p.style.stroke_width * width_factor)))
    return Document(doc.view_box, out)


def random_transform(doc: Document, rng: np.random.Generator, a: ImageAugmentConfig) -> Document:
    """Apply the geometry and stroke-width augmentations of `a` with their probabilities."""
    scale, shift, factor = 1.0, np.zeros(2), 1.0
    if rng.random() < a.geometry_prob:
        scale = float(rng.uniform(*a.scale))
        x0, y0, w, h = doc.view_box
        pts = np.concatenate([p.points for p in doc.paths]) if doc.paths else np.zeros((1, 2))
        centre = np.array([x0 + w / 2, y0 + h / 2])
        lo, hi = (pts.min(0) - centre) * scale + centre, (pts.max(0) - centre) * scale + centre
        room_lo = np.minimum(0, np.array([x0, y0]) - lo)  # how far left/up it may move (<= 0)
        room_hi = np.maximum(0, np.array([x0 + w, y0 + h]) - hi)
        shift = np.array([rng.uniform(room_lo[i], room_hi[i]) if room_hi[i] > room_lo[i] else 0.0 for i in range(2)])
    if rng.random() < a.width_prob:
        factor = float(rng.uniform(*a.width_factor))
    if scale == 1.0 and factor == 1.0 and not shift.any():
        return doc
    return transform_document(doc, scale, shift, factor)


def render_sample(doc: Document, size: int, rng: np.random.Generator, a: ImageAugmentConfig | None) -> np.ndarray:
    """Render `doc` on white at `size` px with the colour/blur/noise augmentations: (3, S, S) float32 in [0, 1]."""
    from PIL import Image, ImageFilter

    from gfx.svg.core.render import render, to_rgb

    if a and rng.random() < a.color_prob:
        ink = "#" + "".join(f"{int(v):02x}" for v in rng.integers(0, 110, size=3))
        doc = Document(doc.view_box, [Path(p.commands, p.coords, p.style.replace(
            fill=None if p.style.fill is None else ink, stroke=None if p.style.stroke is None else ink))
            for p in doc.paths])
    image = to_rgb(render(doc, size))
    if a and rng.random() < a.blur_prob:
        image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(float(rng.uniform(*a.blur_radius)))))
    x = image.astype(np.float32) / 255.0
    if a and rng.random() < a.noise_prob:
        x = np.clip(x + rng.normal(0, rng.uniform(*a.noise_std), x.shape).astype(np.float32), 0, 1)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


class StarVectorBatches(Batches):
    """Seeded `Batches` of (augmented image, tokens) pairs for `gfx.train.train`.

    Each batch is a dict: "tokens" (B, T) long right-padded with PAD, "attention_mask" and
    "loss_mask" (B, T) bool, "image" (B, 3, S, S) float32 in [0, 1].

    Args:
        documents: normalized icons in the tokenizer's viewBox.
        tokenizer: the PathTokenizer the model is trained on.
        image_size: rendered side in pixels.
        batch_size: icons per batch (the last batch of an epoch may be shorter).
        max_tokens: longest token sequence an augmented icon may have.
        augment: transforms; None disables them and keeps the corpus order (validation).
        seed: base seed (see `Batches`).
    """

    def __init__(self, documents, tokenizer, image_size, batch_size, max_tokens, augment=None, seed=0):
        self.documents, self.tokenizer = list(documents), tokenizer
        self.image_size, self.max_tokens, self.augment = image_size, max_tokens, augment
        if not self.documents:
            raise ValueError("no icons to train on: the corpus split is empty or every icon exceeds max_tokens")
        super().__init__(len(self.documents), batch_size, self._collate_indices, seed=seed,
                         shuffle=augment is not None, drop_last=False)

    def _collate_indices(self, index: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        return self.collate([self.documents[i] for i in index], rng)

    def collate(self, documents: Sequence[Document], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Augment, tokenize, render and pad documents into a batch dict (see the class docstring)."""
        seqs, images = [], []
        for doc in documents:
            ids = None
            if self.augment:
                moved = random_transform(doc, rng, self.augment)
                ids = self.tokenizer.encode(moved)
                doc = moved if len(ids) <= self.max_tokens else doc
            if ids is None or len(ids) > self.max_tokens:
                ids = self.tokenizer.encode(doc)
            seqs.append(ids)
            images.append(render_sample(doc, self.image_size, rng, self.augment))
        width = max(len(s) for s in seqs)
        tokens = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
        for i, ids in enumerate(seqs):
            tokens[i, : len(ids)] = torch.tensor(ids)
        mask = tokens != PAD_ID
        return {"tokens": tokens, "attention_mask": mask, "loss_mask": mask,
                "image": torch.from_numpy(np.stack(images))}
