# gfx — one entry point for setup, demo, tests, benchmarks and lint.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.setup-done
APT_PACKAGES := libcairo2 libusb-1.0-0 chromium
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup demo sheets studio test test-fast bench lint clean-venv

setup: $(STAMP)

# Debian packages, then a venv with torch installed first (the CPU wheel on disk), then the package.
$(STAMP): pyproject.toml
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@[ -x $(PY) ] || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,ray,browser]' torch==2.13.0
	@$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $(STAMP)

demo: setup
	$(PY) -m gfx.apps.demo demo-out

# The contact sheets README shows (text -> icon, image -> SVG, text -> mesh, text -> image, image controls), regenerated from the shipped models.
sheets: setup
	$(PY) -m gfx.apps.demo docs/images --sheets

# The Gradio studio on http://127.0.0.1:$(STUDIO_PORT) (Ctrl-C stops it).
STUDIO_PORT ?= 7860
studio: setup
	$(VENV)/bin/gfx demo --port $(STUDIO_PORT) --no-browser

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check gfx tests bench

clean-venv:
	rm -rf $(VENV)
