# Entry points for a fresh machine: `make run` (the app; launch options in ARGS, e.g.
# `make run ARGS="--model net.py:Net --weights w.pt --allow-code"`), `make test` (the fast suite, ≤ 3 min:
# run it after every change) and `make test-all` (everything: long browser, bad-input and sweep
# tests too; what CI runs). Each creates .venv from the pinned requirements first (once; again
# when they change).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PIP_QUIET ?= --quiet
ARGS ?=

.PHONY: run test test-all bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) --disable-pip-version-check -r requirements-dev.txt -e .
	touch $(STAMP)

# The first `make run` shows pip's progress (it installs 1.9 GB into .venv; see the README).
run:
	@test -f $(STAMP) || echo "make run: first run, installing the pinned requirements into $(VENV) (see README: time and disk)"
	@$(MAKE) --no-print-directory $(STAMP) PIP_QUIET=
	$(VENV)/bin/python -m streamlit run app.py$(if $(strip $(ARGS)), -- $(ARGS))

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	for b in benchmarks/bench_*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
