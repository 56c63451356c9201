# The two commands: `make generate` renders every config from observability.yaml;
# `make test` installs what the tests need and runs them all.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: generate validate check test test-fast system-tools bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

generate: $(STAMP)
	$(BIN)/orchestrator generate

validate: $(STAMP)
	$(BIN)/orchestrator config validate

system-tools:
	@scripts/install-system-tools.sh

check: $(STAMP) system-tools
	$(BIN)/orchestrator check

test: $(STAMP) system-tools check
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not live"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf $(VENV) .pytest_cache
