# The Generative AI Guidebook. `make serve` to read, `make test` to check everything.
# Every target sets up what is missing first; setup is idempotent (stamps), so a second run installs nothing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export NO_MKDOCS_2_WARNING := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

PYTEST_ARGS ?=
# Where pip finds torch's CPU wheel; empty uses pip's configuration (this project's machines keep it on disk).
# Elsewhere: make TORCH_INDEX=https://download.pytorch.org/whl/cpu setup
TORCH_INDEX ?=

.PHONY: setup serve build test golden bench lock clean

setup: $(VENV)/.installed node_modules/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the CPU wheel, so that no other package can pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "torch==2.13.0"
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[docs,test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

serve: setup
	SITE_URL=http://127.0.0.1:8000/ $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000 --livereload

build: setup
	$(BIN)/mkdocs build --strict

# Snippets, page code (pytest-markdown-docs on docs/), notebooks, the book's code against reference
# libraries, the strict site build with its checks, and the browser tests; network blocked but loopback.
test: setup
	$(PY) -m pytest -n 2 --dist loadgroup --markdown-docs --markdown-docs-syntax=superfences \
		--allow-hosts=127.0.0.1,::1,localhost --ignore=tests/offline $(PYTEST_ARGS) tests docs

# ONLY="snippets/shipping docs/x/lab.ipynb" rewrites just those (files or folders).
ONLY ?=
golden: setup
	$(PY) -m bookkit.golden $(ONLY)

bench: setup
	$(PY) -m bookkit.bench

# Refresh constraints.txt (exact versions) after changing a range in pyproject.toml; update README's table.
lock: setup
	$(PY) -m pip install --quiet -e ".[docs,test]"
	$(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//' | grep -v '^genai-guide' > constraints.txt

clean:
	rm -rf site .cache .pytest_cache
