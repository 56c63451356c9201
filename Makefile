# The two commands: `make generate` renders every config from observability.yaml;
# `make test` installs what the tests need and runs them all.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: generate validate check test test-fast system-tools grafana-schema up down bench bench-exporter demo clean \
	stack bench-alert-latency

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

# Grafana's own dashboard schema, from the pinned npm @grafana/schema (needs node and npm).
grafana-schema:
	@tools/grafana-schema/build.sh build/grafana-schema

check: $(STAMP) system-tools grafana-schema
	$(BIN)/orchestrator check --grafana-schema build/grafana-schema

test: $(STAMP) system-tools check
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not live"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py

# What the exporter costs per task lifecycle and per scrape, against plain prometheus-client.
bench-exporter: $(STAMP)
	$(BIN)/python benchmarks/bench_exporter.py

# A simulated orchestrator feeding the exporter on 127.0.0.1:9464 (Ctrl-C stops it), e.g.
# make demo SCENARIO=error-spike SPEED=10; scenarios: normal error-spike backlog slow memory down.
# Its file logs go to build/demo-logs, not to the real orchestrator's log.
SCENARIO ?= normal
SPEED ?= 10
demo: $(STAMP)
	$(BIN)/orchestrator demo --scenario $(SCENARIO) --speed $(SPEED) --log-dir build/demo-logs

# The stack in docker compose; without a Docker engine, say so and point to the native stack.
up:
	@scripts/compose-up.sh

down:
	docker compose down

# The stack without Docker: Debian's prometheus and prometheus-alertmanager on 127.0.0.1 (9090, 9093)
# with the generated configs, the demo exporter (9464) and local Slack/PagerDuty receivers (9097)
# that print what they get; Ctrl-C stops everything. E.g. make stack SCENARIO=error-spike SPEED=30
# STACK_FLAGS=--fast (1s intervals, `for` divided by SPEED, group_wait 1s).
STACK_FLAGS ?=
stack: $(STAMP) system-tools
	$(BIN)/orchestrator stack up --scenario $(SCENARIO) --speed $(SPEED) $(STACK_FLAGS)

# Time from each scenario's start to each alert's first notification, next to its floor.
bench-alert-latency: $(STAMP) system-tools
	$(BIN)/python benchmarks/bench_alert_latency.py

clean:
	rm -rf $(VENV) .pytest_cache
