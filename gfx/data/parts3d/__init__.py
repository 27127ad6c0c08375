"""A procedural part-annotated 3D dataset: seeded objects of 8 categories built from primitives.

Each object (`PartObject`) holds 2-16 named, labelled, coloured parts (`PartRecord`: plain arrays) (boxes, cylinders,
spheres, capsules, lathed profiles, swept tubes), normalized to [-1, 1]^3 (+y up, +z front), with its
per-part boxes, a caption built from the sampled parameters, and the parameters themselves. The
categories exercise what part-based generators must handle (docs/papers.md): part
sizes up to ~50x apart (a screw under a seat, a knob on a table), thin and repeated parts (legs,
slats, shelf boards), contacts (legs touch the seat), hidden parts (a bulb inside a shade, axles
inside a car body) and tilted, non-axis-aligned parts.

Everything is a pure function of (category, index): `generate("chair", 7)` is the same object on
every machine with the same trimesh tessellation (`GENERATOR_VERSION` names the recipe). Parts are
ordered as FullPart orders boxes: largest box half-surface-area (xy + yz + zx) first. Splits come
from the object id (`split_of`), so growing the dataset never moves an object between splits.
Nothing has to be stored: models generate objects on the fly or read the arrays
`gfx.recipes.parts3d.build_parts` writes. `gfx.data` sits below the modality packages and imports none
of them (docs/ARCHITECTURE.md): meshes, voxel grids and GLBs of these records are made in `gfx.recipes.parts3d`.
"""

from gfx.data.parts3d.builder import LABELS, MATERIALS, MAX_PARTS, Builder
from gfx.data.parts3d.categories import CATEGORIES, get_category
from gfx.data.parts3d.dataset import (
    GENERATOR_VERSION,
    SPLIT_RULE,
    SPLITS,
    PartObject,
    PartRecord,
    generate,
    iter_objects,
    object_id,
    part_boxes,
    split_of,
)

__all__ = [
    "CATEGORIES",
    "GENERATOR_VERSION",
    "LABELS",
    "MATERIALS",
    "MAX_PARTS",
    "SPLITS",
    "SPLIT_RULE",
    "Builder",
    "PartObject",
    "PartRecord",
    "generate",
    "get_category",
    "iter_objects",
    "object_id",
    "part_boxes",
    "split_of",
]
