"""A non-editable install works anywhere: build the wheel, install it into a fresh venv, run gfx elsewhere.

The venv reuses the dependencies already installed beside the test (a .pth file naming their
site-packages; plain path lines do not run the editable install's own .pth, so the checkout stays
invisible), so the test needs no network. Every command runs from a temporary folder outside the
checkout with a cache folder of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(args: list, cwd: Path, env: dict, timeout: float = 300) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """(bin folder of a venv with the gfx wheel installed, environment to run it in)."""
    root = tmp_path_factory.mktemp("install")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "wheel", REPO], root, os.environ)
    [wheel] = (root / "wheel").glob("gfx-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], root, os.environ)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root, os.environ).strip())
    (purelib / "gfx-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel], root, os.environ)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GFX_", "VIRTUAL_ENV"))}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", XDG_CACHE_HOME=str(root / "cache"), HOME=str(root))
    return venv / "bin", env


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    assert not tmp_path.resolve().is_relative_to(REPO)
    return tmp_path


def test_the_installed_copy_is_imported_with_its_shipped_data(installed, elsewhere):
    bin_dir, env = installed
    script = ("import json, gfx, gfx.models, gfx.data.icons, gfx.paths; print(json.dumps([gfx.__file__, "
              "str(gfx.models.MODELS_DIR), str(gfx.data.icons.ICONS_DIR), str(gfx.paths.cache_dir('train'))]))")
    package, models, icons, cache = map(Path, json.loads(_run([bin_dir / "python", "-c", script], elsewhere, env)))
    venv = bin_dir.parent
    assert package.is_relative_to(venv) and not package.is_relative_to(REPO)
    assert models == package.parent / "_shipped" / "models" and (models / "iconshop-mini").is_dir()
    assert (icons / "manifest.json").is_file() and (icons / "LICENSES" / "mdi.txt").is_file()
    assert cache == Path(env["XDG_CACHE_HOME"]) / "gfx" / "train"


def test_generate_vectorize_and_mesh_from_another_directory(installed, elsewhere):
    bin_dir, env = installed
    gfx = bin_dir / "gfx"
    printed = _run([gfx, "svg", "generate", "house", "-n", "2", "--seed", "0", "-o", "out"], elsewhere, env).split()
    assert printed == [f"out/house-{i}.{ext}" for i in range(2) for ext in ("svg", "png")]
    for name in printed:
        assert (elsewhere / name).stat().st_size > 0
    assert (elsewhere / "out/house-0.svg").read_text().startswith("<svg")

    _run([gfx, "svg", "vectorize", "out/house-0.png", "-o", "traced.svg"], elsewhere, env)
    assert "<path" in (elsewhere / "traced.svg").read_text()

    printed = _run([gfx, "mesh", "generate", "a wooden chair", "--seed", "0", "-o", "chair.glb"], elsewhere, env)
    assert printed.splitlines()[:2] == ["chair.glb", "chair.png"] and "parts: " in printed
    assert (elsewhere / "chair.glb").read_bytes()[:4] == b"glTF"


def test_the_studio_builds_from_the_installed_package(installed, elsewhere):
    bin_dir, env = installed
    script = "from gfx.apps.studio import build_studio; print(type(build_studio(work_dir='w')).__name__)"
    assert _run([bin_dir / "python", "-c", script], elsewhere, env).strip() == "Blocks"
    assert "Launch the Gradio studio" in _run([bin_dir / "gfx", "demo", "--help"], elsewhere, env)
