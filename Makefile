# The commands in README.md. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS ?= never
# uv from PATH, else a private copy bootstrapped with pip (see the `uv` target).
TOOLS_DIR := $(HOME)/.cache/agentmesh/tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS_DIR)/bin/uv)
RUN := $(UV) run --locked
# Long-running commands start from the environment directly, not under `uv run`: the process
# you see (and signal, kill -9 included) is agentmesh itself, not a uv parent left behind.
AGENTMESH := .venv/bin/agentmesh
# Test processes (pytest-xdist). Most integration tests wait on Kafka and on the processes
# they start, so three share two cores well; TEST_WORKERS=0 runs the suite in one process.
# worksteal: an idle worker takes queued tests from a busy one, so a few long tests at the
# end of one worker's queue do not leave the others waiting.
TEST_WORKERS ?= 3

.PHONY: help
help: ## Show the commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36mmake %-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(TOOLS_DIR)/bin/uv:
	python3 -m venv $(TOOLS_DIR)
	$(TOOLS_DIR)/bin/pip install --quiet --disable-pip-version-check "uv>=0.8,<1"

.PHONY: install
install: $(if $(shell command -v uv 2>/dev/null),,$(TOOLS_DIR)/bin/uv) ## Install the locked Python dependencies into .venv
	$(UV) sync --locked

.PHONY: test
test: install browser tools ## Run all tests; starts a local Kafka + schema registry when none is configured
	$(RUN) pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

.PHONY: tools
tools: ## Docker engine + Compose, Helm, Jaeger and promtool for the container, chart, tracing and alert tests (once; cached)
	@bash infra/tools/install.sh

.PHONY: browser
browser: ## Debian's Chromium for the reviewer page's end-to-end test (installed when missing)
	@command -v chromium >/dev/null 2>&1 || command -v apt-get >/dev/null 2>&1 || { \
	  echo "no chromium and no apt-get: the reviewer page's browser test will be skipped"; exit 0; }
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (once) ..."; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
	  || { $$sudo apt-get update -qq >/dev/null && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }

.PHONY: test-unit
test-unit: install ## Run only the tests that need no broker
	$(RUN) pytest -m "not kafka" $(PYTEST_ARGS)

.PHONY: lint
lint: install ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

.PHONY: fmt
fmt: install ## Format the code and apply safe lint fixes
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

.PHONY: typecheck
typecheck: install ## mypy --strict over the packages
	$(RUN) mypy --strict

.PHONY: contracts-check
contracts-check: install ## Schema files match the models and every version is compatible
	$(RUN) agentmesh contracts check

.PHONY: check
check: lint typecheck contracts-check ## Everything CI checks besides the tests

.PHONY: run
run: install ## Run the whole mesh locally with a demo task (Ctrl-C stops everything)
	exec $(AGENTMESH) demo $(DEMO_ARGS)

.PHONY: infra-up
infra-up: install ## Start the local Kafka broker and schema registry
	$(AGENTMESH) infra up

.PHONY: infra-down
infra-down: install ## Stop the local Kafka broker and schema registry
	$(AGENTMESH) infra down

.PHONY: infra-status
infra-status: install ## Show whether the local broker and registry are healthy
	$(AGENTMESH) infra status

.PHONY: bench-codec
bench-codec: install ## Avro codec speed: fastavro vs avro-python3 vs agentmesh's Codec
	$(UV) run --locked --with avro-python3==1.10.2 python -m bench.codec $(BENCH_ARGS)

.PHONY: bench-gateway
bench-gateway: install ## Gateway POST /v1/tasks latency (p50/p99) vs GET /healthz, with hey (or wrk)
	$(RUN) python -m bench.gateway $(BENCH_ARGS)

.PHONY: bench-supervisor
bench-supervisor: install ## Supervisor events/s (budgets, breakers on) vs a bare faust counter
	$(RUN) python -m bench.supervisor $(BENCH_ARGS)

.PHONY: bench-replay
bench-replay: install ## Steps/s `replay run` re-runs from recordings vs the same tasks run live
	$(RUN) python -m bench.replay $(BENCH_ARGS)

IMAGE ?= agentmesh
.PHONY: image
image: ## Build the agentmesh image and the sample mesh's on top of it (IMAGE_ARGS: more build args; docs/deploy.md)
	docker build -t $(IMAGE) $(IMAGE_ARGS) .
	docker build -t $(IMAGE)-examples -f infra/docker/Dockerfile.example \
	  --build-arg AGENTMESH_IMAGE=$(IMAGE) $(IMAGE_ARGS) agents/examples

.PHONY: clean
clean: ## Remove caches in the work tree (not the downloaded jars)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
