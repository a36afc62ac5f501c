# Two commands matter: `make demo` and `make test`. Everything else is what they stand on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TWILIGHT_HOME ?= $(CURDIR)/.twilight

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The slowest tests are listed at the end, so CI logs show where the time goes.
test: $(STAMP) lint
	$(BIN)/pytest --durations=25

demo: $(STAMP)
	$(BIN)/twilight demo

bench: $(STAMP)
	for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python -W ignore $$script || exit 1; done

clean:
	rm -rf $(VENV) .twilight .pytest_cache .ruff_cache .mypy_cache
