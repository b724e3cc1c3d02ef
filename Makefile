# Sovereign research kernel. Every target bootstraps .venv from requirements.lock (once; again
# only when the lock or pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sovereign-installed
DEMO_QUESTION := How does the causal encoder design in W.A.L.T influence the trade-off between FVD scores and inference throughput in photorealistic video generation?
export LANGGRAPH_CLI_NO_ANALYTICS := 1
export LANGGRAPH_NO_VERSION_CHECK := true
export LANGSMITH_TRACING := false
export NVIDIA_USAGE_TELEMETRY_ENABLED ?= false

.PHONY: help install demo test bench api lock clean schema

help:
	@echo "make demo   - run the W.A.L.T question on the embedded offline default -> out/demo/"
	@echo "make test   - run the test suite"
	@echo "make bench  - run the benchmarks (JSON in bench/results/)"
	@echo "make api    - serve the graph API (langgraph dev) on 127.0.0.1:2024"
	@echo "make lock   - re-resolve requirements.lock from pyproject.toml"
	@echo "make schema - regenerate docs/report.schema.json from the Report model"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@# the project is installed editable: compile its bytecode too (start-up time; Python only reads
	@# .pyc files when PYTHONDONTWRITEBYTECODE is set, and recompiles any module edited since)
	@$(BIN)/python -m compileall -q sovereign graph agents prompts adapters >/dev/null
	@# the bundled corpus' search index, so that the first run loads it instead of building it
	@$(BIN)/sovereign index --quiet || echo "note: the local index will be built by the first run"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sovereign research "$(DEMO_QUESTION)" --provider offline --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

api: $(STAMP)
	$(BIN)/langgraph dev --no-browser --host 127.0.0.1 --port 2024

schema: $(STAMP)
	$(BIN)/sovereign schema --out docs/report.schema.json

lock: $(VENV)
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

$(VENV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

clean:
	rm -rf out .pytest_cache .langgraph_api

# The API server image's Dockerfile, generated from langgraph.json (keep it in sync: `make
# dockerfile`; tests/test_dockerfile.py fails when it drifts). Build with `docker build -t
# sovereign-api .` or `langgraph build -t sovereign-api`; see docs/DEPLOY.md.
.PHONY: dockerfile
dockerfile: $(STAMP)
	$(BIN)/langgraph dockerfile -c langgraph.json Dockerfile
	@# the CLI names the image's source folder after this checkout's folder: fix it, so the file
	@# is the same from every clone
	sed -i 's#/deps/$(notdir $(CURDIR))\([/" ]\|$$\)#/deps/sovereign\1#g' Dockerfile
