# Two commands: `make demo` (set up + run the main job) and `make test` (set up + the test suite).
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first, pinned to the builds served for this machine (CPU use; CUDA where present).
	$(VENV)/bin/pip install -q torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

.PHONY: setup demo test lint
setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/raylab demo

lint: $(STAMP)
	$(VENV)/bin/ruff check raylab tests jobs bench
	$(VENV)/bin/lint-imports

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest -q --durations=15 tests
