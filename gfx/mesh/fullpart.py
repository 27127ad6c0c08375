"""FullPart (arXiv 2510.26140) at CPU scale: text -> box layout -> every part at full resolution -> one mesh.

    pipe = FullPart.from_pretrained("models/fullpart-mini")
    result = pipe("a wooden chair with four legs", seed=0)
    result.mesh.export("chair.glb")                      # one named node per part

Stages (the numbered steps of `__call__`):
1. the prompt's MiniLM sentence embedding (frozen shared encoder, cached per prompt);
2. (a) a box layout: `LayoutDenoiser` diffuses an unordered set of box tokens (box + label + present flag);
3. (b) part occupancy: `OccupancyDenoiser` generates every part in its own R^3 grid over its box frame,
   all parts jointly with center-point encoding (`gfx.mesh.fullpart_occupancy`);
4. (c) assembly: marching cubes per part, placed through its box (`gfx.mesh.parts.assemble`), parts named
   by label (`leg_0`, `leg_1`, ...) like the dataset's.

A checkpoint is a pipeline directory: model_index.json (with the label vocabulary under "config") and
the component folders `layout/`, `parts/` and `shared/`. The optional `shared` component is the same
occupancy model trained on one object grid (the baseline of
the FullPart-vs-shared-grid ablation, `shared_grid`). The paper's stage (c) refinement (textured SLat
flow) is not built; parts carry a colour per label instead.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gfx.checkpoint import read_pipeline, save_pipeline
from gfx.config import ConfigMixin
from gfx.mesh.fullpart_layout import LayoutConfig, LayoutDenoiser
from gfx.mesh.fullpart_occupancy import OBJECT_BOX, OccupancyConfig, OccupancyDenoiser, assign_to_boxes
from gfx.mesh.parts import assemble, assemble_shared
from gfx.mesh.structures import PartMesh

log = logging.getLogger(__name__)

COMPONENTS = ("layout", "parts", "shared")
LEVEL = 0.5
"""Marching-cubes level of generated occupancy probabilities."""


def dataset_labels() -> tuple[str, ...]:
    """The part dataset's label vocabulary (`gfx.data.parts3d.LABELS`): the labels of a freshly built
    pipeline and of checkpoints saved before the labels travelled in model_index.json."""
    from gfx.data.parts3d import LABELS

    return tuple(LABELS)


def part_names(labels: list[str]) -> list[str]:
    """Unique part names from labels, as the dataset names them: a lone label as is, repeats `label_<i>`."""
    return [
        lab if labels.count(lab) == 1 else f"{lab}_{labels[:k].count(lab)}" for k, lab in enumerate(labels)
    ]


def label_color(label: str) -> tuple[int, int, int, int]:
    """A stable colour per label: hue from a hash of the label, fixed saturation and value."""
    import colorsys

    hue = int(hashlib.sha256(label.encode()).hexdigest()[:8], 16) / 2**32
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.9)
    return round(r * 255), round(g * 255), round(b * 255), 255


def ensure_nonempty(probs: np.ndarray) -> np.ndarray:
    """Per part (K, R, R, R): where no cell reaches `LEVEL`, rescale so the most likely cells do.

    A generated box always yields a part; an unsure model gives it its most probable cells rather than
    dropping it (logged).
    """
    probs = np.asarray(probs, dtype=np.float32).copy()
    for k, grid in enumerate(probs):
        peak = float(grid.max())
        if peak <= LEVEL:
            log.info(
                "part %d: no cell above %.2f (max %.3f); keeping its most probable cells", k, LEVEL, peak
            )
            probs[k] = grid / max(peak, 1e-6) * (LEVEL + 0.01) * (grid >= 0.9 * peak)
    return probs


@dataclass
class FullPartConfig(ConfigMixin):
    """The pipeline's own settings, saved under "config" in its model_index.json.

    Attributes:
        labels: the part label vocabulary; label id i of the layout and occupancy models is labels[i].
    """

    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FullPartResult:
    """One generated object.

    Attributes:
        mesh: the parts, named and coloured by label.
        boxes: (K, 6) float32 layout boxes [center, size]; labels: K label names.
        probabilities: (K, R, R, R) float32 part occupancy in each box frame (or (1, Ro, Ro, Ro) for the
            shared grid).
    """

    mesh: PartMesh
    boxes: np.ndarray
    labels: list[str]
    probabilities: np.ndarray


class FullPart:
    """The FullPart pipeline: layout denoiser + per-part occupancy denoiser (+ the shared-grid baseline).

    Args:
        layout, parts, shared: the components (`shared` optional).
        config: the label vocabulary, one name per label id of the models.
    """

    def __init__(
        self,
        layout: LayoutDenoiser,
        parts: OccupancyDenoiser,
        shared: OccupancyDenoiser | None = None,
        config: FullPartConfig | None = None,
    ):
        self.layout, self.parts, self.shared = layout, parts, shared
        self.config = config if config is not None else FullPartConfig(dataset_labels())
        self.label_names = list(self.config.labels)
        n = len(self.label_names)
        if layout.config.n_labels != n or parts.config.n_labels != n:
            raise ValueError(
                f"models were built for {layout.config.n_labels} labels; the config names {n} (labels)"
            )

    @classmethod
    def build(cls, preset: str = "mini", with_shared: bool = True) -> FullPart:
        """Fresh (untrained) components of a preset ("tiny" for tests, "mini"), labelled by the part
        dataset's vocabulary."""
        shared = None
        if with_shared:
            shared_preset = "mini-shared" if preset == "mini" else preset
            overrides = {"mode": "shared", "grid": 2 * OccupancyConfig.from_name(preset).grid}
            shared = OccupancyDenoiser(OccupancyConfig.from_name(shared_preset, **overrides))
        return cls(
            LayoutDenoiser(LayoutConfig.from_name(preset)),
            OccupancyDenoiser(OccupancyConfig.from_name(preset)),
            shared,
        )

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """Write model_index.json and the `layout/`, `parts/` (and `shared/`) component folders."""
        components = {name: getattr(self, name) for name in COMPONENTS}
        return save_pipeline(directory, self, components, self.config, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> FullPart:
        """Load a pipeline saved by `save_pretrained` (a directory from before model_index.json loads with
        the part dataset's label vocabulary, which those checkpoints were trained on)."""
        files = read_pipeline(directory, cls.__name__, "fullpart")
        shared = files.optional_path("shared", "OccupancyDenoiser")
        config = FullPartConfig.from_dict(files.settings) if files.settings else None
        return cls(
            LayoutDenoiser.from_pretrained(files.path("layout", "LayoutDenoiser"), device=device),
            OccupancyDenoiser.from_pretrained(files.path("parts", "OccupancyDenoiser"), device=device),
            OccupancyDenoiser.from_pretrained(shared, device=device) if shared is not None else None,
            config,
        )

    @property
    def device(self) -> torch.device:
        return next(self.parts.parameters()).device

    def __call__(
        self,
        prompt: str,
        seed: int | None = None,
        *,
        boxes: np.ndarray | None = None,
        labels: list[str] | None = None,
        steps: int | None = None,
    ) -> FullPartResult:
        """Generate a part mesh for `prompt` (or for a given layout: `boxes` (K, 6) and `labels`)."""
        from gfx.backbones.text_encoder import cached_embedding

        generator = torch.Generator().manual_seed(
            int(seed) if seed is not None else int(torch.randint(2**31, ()).item())
        )
        # 1. the prompt embedding
        text = cached_embedding(prompt)[None].to(self.device)
        # 2. the layout (sampled unless given)
        if boxes is None:
            boxes, label_ids = self.layout.sample(text, generator=generator)[0]
            labels = [self.label_names[i] for i in label_ids]
        elif labels is None or len(labels) != len(boxes):
            raise ValueError("give one label per box")
        # 3. every part's occupancy in its own grid, 4. assembly
        probs = self.part_probabilities(text, np.asarray(boxes, np.float32), labels, generator, steps)
        mesh = self.assemble(probs, np.asarray(boxes, np.float32), labels)
        return FullPartResult(mesh, np.asarray(boxes, np.float32), list(labels), probs)

    def _layout_tensors(self, boxes: np.ndarray, labels: list[str]):
        ids = [self.label_names.index(lab) for lab in labels]
        b = torch.from_numpy(np.asarray(boxes, np.float32))[None].to(self.device)
        lab = torch.tensor([ids], dtype=torch.long, device=self.device)
        return b, lab, torch.ones_like(lab, dtype=torch.bool)

    def part_probabilities(
        self,
        text: torch.Tensor,
        boxes: np.ndarray,
        labels: list[str],
        generator: torch.Generator | None = None,
        steps: int | None = None,
    ) -> np.ndarray:
        """(K, R, R, R) occupancy probabilities of each part in its box frame."""
        b, lab, mask = self._layout_tensors(boxes, labels)
        return (
            self.parts.sample(text, b, lab, mask, generator=generator, steps=steps)[0].float().cpu().numpy()
        )

    def assemble(
        self, probs: np.ndarray, boxes: np.ndarray, labels: list[str], names: list[str] | None = None
    ) -> PartMesh:
        """Per-part grids -> one `PartMesh`, every part non-empty (`ensure_nonempty`); names default to
        `part_names(labels)`."""
        return assemble(
            ensure_nonempty(probs),
            boxes,
            names or part_names(labels),
            labels,
            [label_color(x) for x in labels],
            level=LEVEL,
        )

    def shared_grid(
        self,
        prompt_or_text: str | torch.Tensor,
        boxes: np.ndarray,
        labels: list[str],
        generator: torch.Generator | None = None,
        steps: int | None = None,
        names: list[str] | None = None,
    ) -> PartMesh:
        """The baseline: one object grid from the shared model, cells given to parts by their boxes."""
        from gfx.backbones.text_encoder import cached_embedding

        if self.shared is None:
            raise ValueError("this FullPart checkpoint has no shared-grid baseline (shared/)")
        text = cached_embedding(prompt_or_text)[None] if isinstance(prompt_or_text, str) else prompt_or_text
        b, lab, mask = self._layout_tensors(boxes, labels)
        probs = self.shared.sample(text.to(self.device), b, lab, mask, generator=generator, steps=steps)[0, 0]
        ids = assign_to_boxes(probs.float().cpu().numpy() > LEVEL, boxes, OBJECT_BOX[:3], OBJECT_BOX[3])
        return assemble_shared(
            ids,
            names or part_names(labels),
            labels,
            [label_color(x) for x in labels],
            OBJECT_BOX[:3],
            OBJECT_BOX[3],
        )
