# Two commands for a fresh machine with a Docker engine:
#   make demo   sets everything up and runs the suites (ci, deployment, security) against the demo stack (dev)
#   make test   sets everything up and runs the project's own tests
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
# The plugin layer is also tested on pytest 8 (pyproject declares pytest>=8), in a venv of its own.
VENV8      := .venv-pytest8
BASE_IMAGE ?= athalia/base:bookworm
ENV        ?= dev
PYTEST_ARGS ?=

.PHONY: setup venv venv-pytest8 compose images secrets demo test test-pytest8 lint cleanup bench clean

setup: venv compose images secrets

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@echo "== setup: python virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# Editable like .venv; what tests/plugin needs (the tools of both extras, hypothesis, xdist, xmlschema), nothing more.
venv-pytest8: $(VENV8)/.installed
$(VENV8)/.installed: pyproject.toml
	@echo "== setup: python virtualenv $(VENV8) (pytest 8.x)"
	$(PYTHON) -m venv $(VENV8)
	$(VENV8)/bin/pip install --quiet --upgrade pip
	$(VENV8)/bin/pip install --quiet -e '.[all]' 'pytest>=8,<9' hypothesis pytest-xdist xmlschema jsonschema prometheus-client
	@touch $@

compose:
	@echo "== setup: docker compose v2"
	bash scripts/install-compose-v2.sh

images: venv
	@echo "== setup: base image $(BASE_IMAGE)"
	$(BIN)/athalia images bootstrap --name $(BASE_IMAGE)

# Demo secrets are generated locally, never committed.
secrets: demo/secrets/dev-db-password demo/secrets/staging-db-password
demo/secrets/%:
	@mkdir -p demo/secrets && chmod 700 demo/secrets
	@$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))' > $@ && chmod 600 $@
	@echo "== setup: generated $@"

SUITES ?= suites/ci suites/deployment suites/security

# One run, one stack: the ci suite starts it, the deployment suite rehearses the release on it
# (blue-green, rollback, load), the security suite scans its images and code.
demo: setup
	$(BIN)/pytest $(SUITES) --athalia-env=$(ENV) --junitxml=reports/junit.xml $(PYTEST_ARGS); \
	status=$$?; $(BIN)/athalia report --output reports/dashboard.html || status=$$?; exit $$status

lint: venv
	$(BIN)/ruff check pytest_athalia suites tests benchmarks demo conftest.py
	$(BIN)/ruff format --check pytest_athalia suites tests benchmarks demo conftest.py
	$(BIN)/mypy
	$(BIN)/bandit -q -r pytest_athalia -ll

test: setup lint test-pytest8
	$(BIN)/pytest $(PYTEST_ARGS)

# The plugin layer (options, fixtures, reports through pytester) on pytest 8.x; everything on 9.x above.
test-pytest8: venv-pytest8
	$(VENV8)/bin/pytest tests/plugin -q -p no:cacheprovider

cleanup: venv
	$(BIN)/athalia cleanup

# bench_load also needs wrk and nginx on the host: apt-get install -y wrk nginx-light
bench: setup
	$(BIN)/python benchmarks/bench_stack.py
	$(BIN)/python benchmarks/bench_rollback.py
	$(BIN)/python benchmarks/bench_canary.py
	$(BIN)/python benchmarks/bench_load.py

clean:
	rm -rf $(VENV) $(VENV8) reports .athalia-cache .mypy_cache .ruff_cache .pytest_cache
