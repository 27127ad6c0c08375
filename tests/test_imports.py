"""The package's import graph: no cycles, and every import goes down the layers of docs/ARCHITECTURE.md.

Every `import gfx...` counts, also the lazy ones inside functions: a lazy import still ties the two
modules together, and lazy cycles are how a layering quietly erodes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gfx

PACKAGE = Path(gfx.__file__).parent

LAYERS = [
    {"gfx.__main__"},
    {"gfx.cli"},  # the only argv/print/exit site
    {"gfx.apps"},  # the Gradio studio
    {"gfx.jobs", "gfx.recipes"},  # batch jobs; training, data assembly, evaluation and model cards
    {"gfx.svg", "gfx.mesh", "gfx.image"},  # modalities: they never import each other
    {"gfx.tokenizers", "gfx.backbones", "gfx.data"},  # shared parts: they know no modality
    {"gfx", "gfx.config", "gfx.checkpoint", "gfx.runtime", "gfx.files", "gfx.paths", "gfx.models", "gfx.train"},
]
"""Top to bottom. A module imports its own room (top-level package or module) and the layers below it,
never a sibling room of its own layer (except the base layer, whose modules are single files)."""

TRAINING_ONLY = {"gfx.train", "gfx.recipes"}
"""Inference code (the modalities and shared parts) never imports these."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The gfx modules `path` imports anywhere in its body (`from gfx.a import b` counts gfx.a and gfx.a.b
    when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gfx.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("gfx"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def room(module: str) -> str:
    """The top-level room of a module: gfx.svg.core.parse -> gfx.svg."""
    return ".".join(module.split(".")[:2])


def layer(module: str) -> int:
    for depth, rooms in enumerate(LAYERS):
        if room(module) in rooms:
            return depth
    raise AssertionError(f"{module} is in no layer of LAYERS; add its room there")


def test_every_module_has_a_layer():
    for module in graph():
        if module != "gfx":
            layer(module)


def test_imports_go_down_the_layers():
    wrong = []
    for module, targets in graph().items():
        if module == "gfx":
            continue
        for target in targets:
            same_room = room(target) == room(module)
            down = layer(target) > layer(module) or (layer(target) == layer(module) == len(LAYERS) - 1)
            if not (same_room or down):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering (docs/ARCHITECTURE.md):\n" + "\n".join(sorted(wrong))


def test_inference_code_imports_no_training_code():
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if room(module) in LAYERS[4] | LAYERS[5]
        for target in targets
        if room(target) in TRAINING_ONLY or target in TRAINING_ONLY
    ]
    assert not wrong, "inference modules importing training code:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if target.startswith(node + "."):
                continue  # a package importing its own submodules is not a cycle
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_a_wrong_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from gfx.recipes.iconshop import train_iconshop\n")
    assert "gfx.recipes.iconshop" in imports_of(bad)
    assert room("gfx.svg.iconshop") in LAYERS[4] and room("gfx.recipes.iconshop") in TRAINING_ONLY
