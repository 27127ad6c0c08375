"""Process-wide runtime choices: device and dtype, seeding, threads, and optional imports.

Importing this module is cheap: torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
from types import ModuleType

import numpy as np

log = logging.getLogger(__name__)

OPTIONAL_PACKAGES = {
    "gradio": "gradio (the studio, `gfx demo`): pip install 'gradio>=6.31,<7'",
    "ray": "ray (the distributed executor, `--executor ray`): pip install 'gfx[ray]'",
    "open3d": "open3d (voxelizing meshes: `gfx mesh encode`, training data): pip install 'open3d>=0.18'; "
    "on Debian/Ubuntu also apt-get install libusb-1.0-0",
    "transformers": "transformers (pretrained causal LMs): pip install 'transformers>=5.24,<6'",
    "xgrammar": "xgrammar (grammar-constrained decoding, used by text -> icon): pip install 'xgrammar>=0.2,<0.3'",
    "vtracer": "vtracer (the classical tracer and the vectorizer's fallback): pip install 'vtracer>=0.6'",
}
"""Packages imported only inside the feature that needs them (`optional_import`), so `import gfx` and the
features that do not need them work without them. Each is a dependency of gfx except ray (the `ray`
extra); the hint says which feature needs it and how to install it, for environments that lack it (or,
for open3d, its system library)."""


def optional_import(name: str) -> ModuleType:
    """Import an optional dependency, or raise ImportError that says how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        hint = OPTIONAL_PACKAGES.get(name.split(".")[0], name)
        raise ImportError(f"{name} is needed for this feature but is not importable ({err}); install {hint}") from err


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import torch

    torch.manual_seed(seed)


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads: `n`, else $OMP_NUM_THREADS, else all cores. Returns the count.

    On a 2-core machine running anything beside torch (a renderer, a test, a second job) use 1: OpenMP
    oversubscription makes torch 10x slower.
    """
    import torch

    if n is None:
        n = int(os.environ.get("OMP_NUM_THREADS", 0)) or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def default_device(prefer: str | None = None) -> str:
    """`prefer` if given, else "cuda" when available, else "cpu"."""
    if prefer:
        return prefer
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str):
    """bfloat16 on CUDA devices that support it, float32 elsewhere."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
