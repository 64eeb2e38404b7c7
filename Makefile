# One entry point for people and CI. On Windows without make, see the README's pip commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The install line below lives here too, so a change to either file reinstalls.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
# torch for the tests: this exact release has a CPU-only wheel on the CI machines' disk,
# where a bare "torch" can pull a multi-gigabyte CUDA build. With a GPU: make test TORCH=torch
TORCH ?= torch==2.13.0

.PHONY: demo test lint typecheck pytest browser bench bench-render clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet "$(TORCH)" -e ".[test,images,charts]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scenewright illustrate --sample --llm keyword --dry-run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browser
	$(BIN)/python -m pytest

# The storyboard test opens the page in headless Chromium, from Debian's package; as root
# (CI) it is installed here when missing. Without it, that test says how to get it.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
		&& [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's chromium for the storyboard test ..."; \
		( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium >/dev/null ) \
			|| echo "Could not install chromium; the storyboard browser test will fail in CI."; \
	fi

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/ledger.py

bench-render: $(STAMP)
	$(BIN)/python bench/render.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
