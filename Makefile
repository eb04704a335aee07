# Two entry points for a fresh machine: `make demo` and `make test` (each creates .venv and installs first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SPY_GAMMA_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(SPY_GAMMA_DATA_DIR)/dagster_home

.PHONY: install demo test dev bench lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/spy-gamma demo

test: install
	$(BIN)/python -m pytest -q

PORT ?= 3000
dev: install
	mkdir -p $(DAGSTER_HOME) && cp -n dagster.yaml $(DAGSTER_HOME)/ 2>/dev/null || true
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $(PORT)

bench: install
	$(BIN)/spy-gamma bench accuracy
	$(BIN)/spy-gamma bench greeks
	$(BIN)/spy-gamma bench pipeline

lint: install
	$(BIN)/ruff check spy_gamma spy_gamma_tests

clean:
	rm -rf $(VENV) data/lake data/spy_gamma.duckdb* data/dagster_home reports/spy_gamma_dashboard
