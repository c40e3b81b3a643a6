# Franz: `make run` runs the local stack, `make test` is the whole test suite. See README.md.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
FRANZ := $(VENV)/bin/franz
PYTEST_ARGS ?=

.PHONY: setup infra lint format test test-unit test-integration test-cluster run node-demo bench clean charts kind-up dev deploy

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Obtain the real local infrastructure into ~/.cache/franz (cold: Maven + Go builds; warm: seconds).
infra: setup
	$(FRANZ) prepare

lint: setup
	$(VENV)/bin/ruff check services operator tests benchmarks charts
	$(VENV)/bin/ruff format --check services operator tests benchmarks charts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff format services operator tests benchmarks charts
	$(VENV)/bin/ruff check --fix services operator tests benchmarks charts

test: setup infra lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: setup
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-integration: setup infra
	$(VENV)/bin/pytest tests/integration tests/e2e $(PYTEST_ARGS)

# The umbrella chart as pods on the real local node (root, Linux namespaces; see README "The real node").
test-cluster: setup infra
	$(VENV)/bin/pytest tests/cluster $(PYTEST_ARGS)

run: setup
	$(FRANZ) up

# Franz on a real one-node Kubernetes: the node, the image, the chart with an example pipeline; Ctrl-C stops.
node-demo: setup infra
	$(FRANZ) cluster --node --demo

bench: setup infra
	$(PY) benchmarks/aufbereitung.py
	$(PY) benchmarks/absturz.py
	$(PY) benchmarks/sachbearbeiter.py
	$(PY) benchmarks/sachbearbeiter_scale.py
	$(PY) benchmarks/store_engines.py
	$(PY) benchmarks/desk.py
	$(PY) benchmarks/operator.py
	$(PY) benchmarks/node.py

# Regenerate the charts' values schemas and READMEs (from values.yaml), the operator chart's CRD and the
# dashboards; the tests fail while any is stale.
charts: setup
	$(PY) -m charts.generate

# The developer loop on kind (needs docker, kind and skaffold; see README "Developing on kind").
kind-up:
	kind get clusters | grep -qx franz || kind create cluster --config kind-config.yaml

dev: kind-up
	skaffold dev --kube-context kind-franz

# Install or upgrade the umbrella chart on the current kube context: make deploy HELM_ARGS="-f my-values.yaml"
HELM = $(shell $(PY) -c 'from franz.devstack.tools import tool; print(tool("helm"))')
deploy: setup
	$(HELM) upgrade --install franz charts/franz --namespace franz --create-namespace $(HELM_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
