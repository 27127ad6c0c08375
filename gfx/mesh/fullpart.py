"""FullPart (arXiv 2510.26140) at CPU scale: text -> part layout -> every part at full resolution -> one mesh.

    pipe = FullPart.from_pretrained("models/fullpart-mini")
    result = pipe("a wooden chair with four legs", seed=0)
    result.mesh.export("chair.glb")                      # one named node per part

Stages (the numbered steps of `__call__`):
1. (a) a layout: `LayoutLM` writes the category and the labelled part boxes as tokens, decoded under the
   layout grammar from the prompt's MiniLM token states (`gfx.mesh.layout_lm`);
2. (b) part shapes: `PartField` gives every part's occupancy in its own box frame at full resolution,
   conditioned on label, box and the prompt's sentence embedding (`gfx.mesh.part_field`);
3. (c) assembly: each part's largest connected component, marching cubes, placed through its box, parts
   named by label (`leg_0`, `leg_1`, ...) like the dataset's.

A checkpoint is a pipeline directory: model_index.json (with the label vocabulary under "config") and
the component folders `layout/`, `parts/` and optionally `shared/`: the same field trained on one shared
object grid (the baseline of the FullPart-vs-shared-grid ablation, `shared_grid`). The paper's stage (c)
refinement (textured SLat flow) is not built; parts carry a colour per label instead.
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
from gfx.mesh.layout_lm import TEMPERATURE, LayoutLM, LayoutLMConfig
from gfx.mesh.part_field import PartField, PartFieldConfig
from gfx.mesh.parts import assemble, largest_component
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
        labels: the part label vocabulary; label id i of the layout and part models is labels[i].
    """

    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FullPartResult:
    """One generated object.

    Attributes:
        mesh: the parts, named and coloured by label.
        category: the category the layout model chose.
        boxes: (K, 6) float32 layout boxes [center, size]; labels: K label names.
        probabilities: (K, R, R, R) float32 part occupancy, each in its frame's grid.
    """

    mesh: PartMesh
    category: str
    boxes: np.ndarray
    labels: list[str]
    probabilities: np.ndarray


class FullPart:
    """The FullPart pipeline: layout model + per-part fields (+ the shared-grid baseline).

    Args:
        layout: a `LayoutLM`; parts: a box-frame `PartField`; shared: an object-frame `PartField` or None.
        config: the label vocabulary, one name per label id of the models.
    """

    def __init__(self, layout: LayoutLM, parts: PartField, shared: PartField | None = None,
                 config: FullPartConfig | None = None):
        self.layout, self.parts, self.shared = layout, parts, shared
        self.config = config if config is not None else FullPartConfig(dataset_labels())
        self.label_names = list(self.config.labels)
        n = len(self.label_names)
        if len(layout.config.labels) != n or parts.config.n_labels != n:
            raise ValueError(
                f"models were built for {len(layout.config.labels)} labels; the config names {n} (labels)"
            )

    @classmethod
    def build(cls, preset: str = "mini", with_shared: bool = True, category_labels=()) -> FullPart:
        """Fresh (untrained) components of a preset ("tiny" for tests, "mini"), labelled by the part
        dataset's vocabulary; `category_labels`: per category, the label ids its layouts may use."""
        from gfx.data.parts3d import CATEGORIES

        labels = dataset_labels()
        layout = LayoutLM(LayoutLMConfig.from_name(preset, categories=tuple(CATEGORIES), labels=labels,
                                                   category_labels=tuple(map(tuple, category_labels))))
        field = PartFieldConfig.from_name(preset, n_labels=len(labels))
        shared = PartField(PartFieldConfig.from_name(preset, n_labels=len(labels), frame="object")) if with_shared else None
        return cls(layout, PartField(field), shared)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = torch.float16) -> Path:
        """Write model_index.json and the `layout/`, `parts/` (and `shared/`) component folders."""
        components = {name: getattr(self, name) for name in COMPONENTS}
        return save_pipeline(directory, self, components, self.config, dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu") -> FullPart:
        """Load a pipeline saved by `save_pretrained`."""
        files = read_pipeline(directory, cls.__name__, "fullpart")
        shared = files.optional_path("shared", "PartField")
        return cls(
            LayoutLM.from_pretrained(files.path("layout", "LayoutLM"), device=device),
            PartField.from_pretrained(files.path("parts", "PartField"), device=device),
            PartField.from_pretrained(shared, device=device) if shared is not None else None,
            FullPartConfig.from_dict(files.settings) if files.settings else None,
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
        temperature: float = TEMPERATURE,
    ) -> FullPartResult:
        """Generate a part mesh for `prompt` (or for a given layout: `boxes` (K, 6) and `labels`)."""
        from gfx.backbones.text_encoder import cached_embedding

        generator = torch.Generator().manual_seed(
            int(seed) if seed is not None else int(torch.randint(2**31, ()).item())
        )
        # 1. the layout (sampled unless given)
        category = ""
        if boxes is None:
            category, boxes, label_ids = self.layout.sample([prompt], temperature=temperature, generator=generator)[0]
            labels = [self.label_names[i] for i in label_ids]
        elif labels is None or len(labels) != len(boxes):
            raise ValueError("give one label per box")
        boxes = np.asarray(boxes, np.float32)
        # 2. every part's occupancy in its own frame, 3. assembly
        probs = self.part_probabilities(cached_embedding(prompt), boxes, labels)
        mesh = self.assemble(probs, boxes, labels)
        return FullPartResult(mesh, category, boxes, list(labels), probs)

    def edit(self, mesh: PartMesh, part: str, prompt: str, seed: int | None = None, *, relayout: bool = False,
             temperature: float = TEMPERATURE) -> PartMesh:
        """Regenerate one part of `mesh` for `prompt`, keeping every other part as it is.

        Args:
            mesh: a part mesh (e.g. a generated one, or one loaded with `load_part_mesh`).
            part: a part name ("backrest", "leg_2") or a label ("leg": every part with that label).
            prompt: the description the new part follows, e.g. "a chair with a tall slatted backrest".
            relayout: also take the part's boxes from a layout sampled for `prompt` (the parts of that label
                in it, so their number may change); default keep the old boxes.

        Returns:
            The mesh with the edited part(s) in place of the old, in `mesh`'s own frame.
        """
        from gfx.backbones.text_encoder import cached_embedding
        from gfx.mesh.structures import label_from_name

        names = mesh.names
        targets = [k for k, name in enumerate(names) if name == part] or [
            k for k, p in enumerate(mesh) if (p.label or label_from_name(p.name)) == part
        ]
        if not targets:
            raise ValueError(f"no part named or labelled {part!r}; the mesh has {', '.join(names)}")
        label = mesh[targets[0]].label or label_from_name(names[targets[0]])
        if label not in self.label_names:
            raise ValueError(f"this model does not know the label {label!r}; it knows {', '.join(self.label_names)}")
        scale, offset = mesh.normalization()
        boxes = mesh.normalized().boxes()[targets]
        if relayout:
            generator = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.randint(2**31, ()).item()))
            _, new_boxes, new_ids = self.layout.sample([prompt], temperature=temperature, generator=generator)[0]
            chosen = new_boxes[[self.label_names[i] == label for i in new_ids]]
            if len(chosen):
                boxes = chosen
            else:
                log.info("the new layout has no %s; keeping the old boxes", label)
        labels = [label] * len(boxes)
        kept = [p for k, p in enumerate(mesh) if k not in targets]
        taken = {p.name for p in kept}
        fresh = [n for n in part_names(labels) if n not in taken] if len(boxes) > 1 else [names[targets[0]]]
        fresh += [f"{label}_edit_{k}" for k in range(len(boxes) - len(fresh))]
        new = self.assemble(self.part_probabilities(cached_embedding(prompt), boxes, labels), boxes, labels, fresh[: len(boxes)])
        placed = [p.transformed(1 / scale, -offset / scale) for p in new]
        return PartMesh(kept + placed)

    def part_probabilities(self, text: torch.Tensor, boxes: np.ndarray, labels: list[str],
                           field: PartField | None = None) -> np.ndarray:
        """(K, R, R, R) occupancy probabilities of each part on its frame's grid (`field`: default `parts`)."""
        field = field or self.parts
        return field.probabilities(text, boxes, [self.label_names.index(x) for x in labels])

    def assemble(self, probs: np.ndarray, boxes: np.ndarray, labels: list[str], names: list[str] | None = None,
                 frame: str = "box") -> PartMesh:
        """Per-part grids -> one `PartMesh`: each part's largest connected component (`ensure_nonempty`
        first, so no part is dropped), names default to `part_names(labels)`."""
        solid = np.stack([largest_component(p > LEVEL) for p in ensure_nonempty(probs)])
        return assemble(solid, boxes, names or part_names(labels), labels, [label_color(x) for x in labels],
                        frame=frame)

    def shared_grid(self, prompt: str, boxes: np.ndarray, labels: list[str], names: list[str] | None = None
                    ) -> PartMesh:
        """The baseline: the object-frame field, every part on the one shared object grid."""
        from gfx.backbones.text_encoder import cached_embedding

        if self.shared is None:
            raise ValueError("this FullPart checkpoint has no shared-grid baseline (shared/)")
        probs = self.part_probabilities(cached_embedding(prompt), boxes, labels, self.shared)
        probs = probs * np.stack([box_mask(b, probs.shape[1]) for b in np.asarray(boxes)])
        return self.assemble(probs, boxes, labels, names, frame="object")


def box_mask(box: np.ndarray, resolution: int, margin: float = 1.0) -> np.ndarray:
    """(R, R, R) bool: cells of the object grid over [-1, 1]^3 within `margin` cells of the box."""
    from gfx.mesh.voxels import cell_centers

    centers = cell_centers(resolution, (0.0, 0.0, 0.0), 2.0)
    slack = box[3:] / 2 + margin * 2.0 / resolution
    return (np.abs(centers - box[:3]) <= slack).all(-1)
