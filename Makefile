# `make demo` and `make test` do all set-up on a fresh machine: a .venv is created when missing and
# the project is (re)installed only when pyproject.toml or constraints.txt changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_out
PYTEST_ARGS ?=
GPU_CHECK_JSON ?= runs/gpu_check.json
GPU_PY ?= $(PY)
GPU_CHECK_ARGS ?=

.PHONY: install demo test bench gpu-check clean

install: $(STAMP)

# The sam2 extra (--tracker sam2) is an sdist whose build requires torch: it is built against the
# venv's torch (an isolated build would download a second torch) and without CUDA (~10 s).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m pip install --quiet --disable-pip-version-check setuptools
	SAM2_BUILD_CUDA=0 $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		--no-build-isolation sam2
	touch $(STAMP)

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh $(DEMO_DIR)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

# One run of <= 8 minutes on a lent GPU (issue 13): prints every figure and writes $(GPU_CHECK_JSON).
# GPU_CHECK_ARGS=--dry-run runs the same code on the tiny variants on a CPU. GPU_PY=python3 uses a
# Python that already has the dependencies (a GPU machine without a registry) and skips install.
gpu-check: $(if $(filter $(PY),$(GPU_PY)),install)
	$(GPU_PY) benchmarks/gpu_check.py --json $(GPU_CHECK_JSON) $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
