# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench bench-detection eval-detection train-detection migration clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python worker.py

lint: $(STAMP)
	$(BIN)/ruff check domain workflows activities baton worker.py tests bench
	$(BIN)/ruff format --check domain

typecheck: $(STAMP)
	$(BIN)/mypy --strict domain

# The Web UI test drives Debian's Chromium; Playwright only drives it and downloads nothing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	elif sudo -n true 2>/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else \
	  echo "chromium is not installed and this user cannot install it: tests/test_web_ui.py will skip"; \
	fi

test: lint typecheck $(CHROMIUM)
	$(BIN)/pytest

# Benchmarks print a table and write bench/results.json; they are not part of `make test`.
bench: bench-detection $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/long_case.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/pair.py

bench-detection: $(STAMP)
	$(BIN)/python bench/detection.py

# Each trigger on the held-back shared data (../shared/data) against a TF-IDF baseline.
eval-detection: $(STAMP)
	$(BIN)/baton detection eval --output bench/detection_eval.json

# Retrain the learned triggers and the risk model (config/trigger-model.json,
# config/risk-model.json) from ../shared/data after changing detection config.
train-detection: $(STAMP)
	$(BIN)/baton detection train

# A new schema revision after changing a table (Baton applies migrations at start).
migration: $(STAMP)
	$(BIN)/alembic -c baton/store/migrations/alembic.ini upgrade head
	$(BIN)/alembic -c baton/store/migrations/alembic.ini revision --autogenerate -m "$(MESSAGE)"

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
