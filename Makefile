# Two commands on a fresh machine: `make test` and `make bench`. Both create .venv on first use.
PY := .venv/bin/python
STAMP := .venv/.installed
# CPU build of torch unless an NVIDIA GPU is present: the plain wheel would pull several GB of CUDA.
TORCH_VERSION := 2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: test test-slow test-all bench lint docs clean

$(STAMP): pyproject.toml
	python3 -m venv .venv
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install -q torch==$(TORCH_VERSION); \
	else \
	  $(PY) -m pip install -q torch==$(TORCH_VERSION)+cpu 2>/dev/null \
	  || $(PY) -m pip install -q torch==$(TORCH_VERSION) --index-url $(TORCH_CPU_INDEX); \
	fi
	$(PY) -m pip install -q -e '.[torch,jax,dev,ray,audit]'
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .

# Two tiers (README, "Tests"). One worker per core; tests are spread one by one, except the modules whose
# expensive fixtures (the Ray cluster, reference runs, a rendered report) keep them on one worker (xdist_group);
# those fixtures are session-scoped, since a module-scoped one is rebuilt whenever another module's test runs
# in between on that worker.
# The 10 slowest tests close every run, so the next slowdown shows in CI's own log.
PYTEST := $(PY) -m pytest -n auto --dist loadgroup --durations=10
test: lint
	$(PYTEST) -m "not slow"

test-slow: $(STAMP)
	$(PYTEST) -m slow

test-all: lint
	$(PYTEST)

# one worker per core; the speed suite's cells are timed one at a time all the same (bench/cli.py)
WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
bench: $(STAMP)
	$(PY) -m bench all --workers $(WORKERS)

# The documentation site (mkdocs.yml): `mkdocs build --strict` into build/site/, offline; the catalog, problems,
# presets and CLI pages are generated from the code at build time (docs/hooks.py).
DOCS_STAMP := .venv/.docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

clean:
	rm -rf .venv
