# dossierflow — every target creates what it needs; `make test` is CI's only command.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install kafka-libs monitoring-tools lint unit integration faults test demo clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Resolve Apache Kafka's jars from Maven Central into .kafka/ (no-op when cached).
kafka-libs:
	scripts/kafka-local fetch

# Prometheus and Alertmanager from Debian's packages (no-op when installed; needs root).
monitoring-tools:
	scripts/install-monitoring

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict events workflows agents monitoring tests scripts

# Two processes: the unit suite is CPU-bound and this machine kind has two cores.
unit: install
	$(BIN)/pytest tests/unit -q -n 2

# The session fixture starts a real local Kafka (scripts/kafka-local) and stops it.
# Fault tests whose fault is not about the store run on one store here; `make faults` runs
# every fault test on both (tests/support/fleet.py `stores`).
integration: install kafka-libs monitoring-tools
	$(BIN)/pytest tests/integration -q -m "integration and not every_store" --durations=25

faults: install kafka-libs
	$(BIN)/pytest tests/integration/test_faults_kafka.py tests/integration/test_poison_kafka.py \
		-q -m integration --durations=0

test: lint unit integration

# The demo's ports: `make demo KAFKA_PORT=29092 PORT=7066 WEBHOOK_PORT=9099` beside a
# running one (Kafka's controller takes KAFKA_PORT+1, further workers PORT+1, ...).
KAFKA_PORT ?= 19092
PORT ?= 6066
WEBHOOK_PORT ?= 8099

demo: install kafka-libs
	$(BIN)/dossierflow demo --kafka-port $(KAFKA_PORT) --port $(PORT) --webhook-port $(WEBHOOK_PORT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
