"""gfx: generative graphics. SVG icons and scenes, part-based meshes and images, on the CPU.

The public API lives in the modality packages, imported lazily so `import gfx` stays fast:

    import gfx
    doc = gfx.svg.core.parse.parse_svg(text)
"""

import importlib

__version__ = "0.1.0"
__all__ = ["__version__", "svg", "data"]


def __getattr__(name: str):
    if name in ("svg", "data", "mesh", "image", "backbones"):
        return importlib.import_module(f"gfx.{name}")
    raise AttributeError(f"module 'gfx' has no attribute {name!r}")
