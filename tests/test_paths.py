"""Where shipped data and caches are found (the installed-wheel side is covered by tests/test_install.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gfx import paths

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_reads_its_own_models_and_corpus_and_caches_under_dot_cache(monkeypatch):
    monkeypatch.delenv("GFX_CACHE", raising=False)
    assert paths.checkout_root() == REPO
    assert paths.shipped("models") == REPO / "models" and paths.shipped("icons") == REPO / "assets" / "icons"
    assert paths.cache_dir("train") == REPO / ".cache" / "train"
    monkeypatch.setenv("GFX_CACHE", "/tmp/elsewhere")
    assert paths.cache_dir("train") == Path("/tmp/elsewhere/train")
    with pytest.raises(KeyError, match="unknown shipped data 'weights'; valid names: clip-bpe, icons, models"):
        paths.shipped("weights")


def test_gfx_models_points_the_default_checkpoints_elsewhere(tmp_path):
    (tmp_path / "iconshop-mini").mkdir()
    script = "from gfx.models import model_path; print(model_path('iconshop')); model_path('vat')"
    env = {**os.environ, "GFX_MODELS": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == str(tmp_path / "iconshop-mini")
    assert f"{tmp_path / 'vat-mini'} is missing; set $GFX_MODELS to a folder with vat-mini/" in done.stderr
