"""A nearest-prompt index over icons: MiniLM embeddings of their prompts beside their SVG and tokens.

It is the retrieval baseline of text -> icon and the memory a retrieval-augmented generator reads from:

    index = IconIndex.build(records)                    # records: .text and .svg
    hits = index.nearest("arrow up right", k=3)         # (k,) int64 rows, best first
    index.svgs[hits[0]]
    index.save_pretrained(directory)                    # index.safetensors + index.json
    IconIndex.from_pretrained(directory)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INDEX_WEIGHTS = "index.safetensors"
INDEX_TEXTS = "index.json"


@dataclass
class IconIndex:
    """Icons with unit-norm prompt embeddings.

    Attributes:
        embeddings: (N, 384) float32, L2-normalized MiniLM embeddings of the icons' prompts.
        svgs: N SVG texts.
        prompts: N prompts.
        groups: (N,) int64 concept id per icon (icons of one concept share it); -1 when unknown.
    """

    embeddings: np.ndarray
    svgs: list[str]
    prompts: list[str]
    groups: np.ndarray

    @classmethod
    def build(cls, records: Sequence, groups: Sequence[int] | None = None) -> IconIndex:
        """Embed every record's `.text` (records need `.text` and `.svg`)."""
        from gfx.backbones.text_encoder import text_encoder

        prompts = [r.text for r in records]
        embeddings = _unit(text_encoder().embed_many(prompts).astype(np.float32))
        groups = np.full(len(records), -1, np.int64) if groups is None else np.asarray(groups, np.int64)
        return cls(embeddings, [r.svg for r in records], prompts, groups)

    def __len__(self) -> int:
        return len(self.svgs)

    def similarities(self, prompt: str) -> np.ndarray:
        """(N,) cosine similarity of `prompt` to every icon's prompt."""
        from gfx.backbones.text_encoder import cached_embedding

        return self.embeddings @ _unit(np.asarray(cached_embedding(prompt), dtype=np.float32))

    def nearest(self, prompt: str, k: int = 1, exclude_group: int | None = None) -> np.ndarray:
        """(k,) int64 rows of the icons whose prompts are nearest to `prompt`, best first; icons of
        `exclude_group` are skipped (a training icon's own concept)."""
        scores = self.similarities(prompt)
        if exclude_group is not None and exclude_group >= 0:
            scores = np.where(self.groups == exclude_group, -np.inf, scores)
        k = min(k, len(self))
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top], kind="stable")].astype(np.int64)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write `index.safetensors` (fp16 embeddings, groups) and `index.json` (SVGs, prompts)."""
        import torch
        from safetensors.torch import save_file

        from gfx.files import write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"embeddings": torch.from_numpy(self.embeddings).half(), "groups": torch.from_numpy(self.groups)},
                  directory / INDEX_WEIGHTS)
        write_text(directory / INDEX_TEXTS, json.dumps({"svgs": self.svgs, "prompts": self.prompts}))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> IconIndex:
        from safetensors.numpy import load_file

        directory = Path(directory)
        tensors = load_file(str(directory / INDEX_WEIGHTS))
        texts = json.loads((directory / INDEX_TEXTS).read_text())
        return cls(_unit(tensors["embeddings"].astype(np.float32)), texts["svgs"], texts["prompts"],
                   tensors["groups"].astype(np.int64))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
