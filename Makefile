# The two set-up commands: `make serve` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test install install-test

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

install: $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e .

install-test: $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'

serve: install
	$(BIN)/amlite serve $(ARGS)

# Azurite, Microsoft's Azure Storage emulator (npm): the artifact tests' Azure Blob endpoint.
AZURITE := .tools/azurite/node_modules/.bin/azurite-blob
$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .tools/azurite azurite@3.35

test: install-test $(AZURITE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Side-by-side benchmarks (amlite vs MLflow's tracking server); see benchmarks/README.md.
# e.g. `make bench BENCH_ARGS=--quick`, `make bench BENCH_ARGS="--backends sqlite"`.
.PHONY: bench
benchmarks/.venv-mlflow/bin/mlflow: benchmarks/requirements-mlflow.txt
	$(PYTHON) -m venv benchmarks/.venv-mlflow
	benchmarks/.venv-mlflow/bin/python -m pip install --quiet -r benchmarks/requirements-mlflow.txt
	touch $@

bench: install-test benchmarks/.venv-mlflow/bin/mlflow
	$(BIN)/python benchmarks/metrics.py $(BENCH_ARGS)

# Run hello.py start to finish: amlite startrun vs Ray Jobs vs `mlflow run` (e.g. BENCH_ARGS=--quick).
.PHONY: bench-execution
benchmarks/.venv-ray/bin/ray: benchmarks/requirements-ray.txt
	$(PYTHON) -m venv benchmarks/.venv-ray
	benchmarks/.venv-ray/bin/python -m pip install --quiet -r benchmarks/requirements-ray.txt
	touch $@

bench-execution: install-test benchmarks/.venv-mlflow/bin/mlflow benchmarks/.venv-ray/bin/ray
	$(BIN)/python benchmarks/execution.py $(BENCH_ARGS)

# Score one scikit-learn model: an amlite service vs `mlflow models serve` vs a bare ASGI app (e.g. BENCH_ARGS=--quick).
.PHONY: bench-scoring
bench-scoring: install-test benchmarks/.venv-mlflow/bin/mlflow
	$(BIN)/python benchmarks/scoring.py $(BENCH_ARGS)
