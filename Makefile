# Carton: `make run` (local stack) and `make test` (everything CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint types unit integration infra e2e tools synth deploy bench clean

# First use (or a changed dependency list): create .venv and install Carton with its
# development and CDK dependencies.
$(STAMP): pyproject.toml layers/deps/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(STAMP)
	$(BIN)/python -m carton_local

test: $(STAMP) tools lint types
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

unit integration infra e2e: $(STAMP) tools
	$(BIN)/pytest tests/$@

# Command-line archive readers the tests check every built archive with
# (unzip, 7z, bsdtar); installed from Debian's packages when missing.
TOOL_PACKAGES := unzip:unzip 7z:p7zip-full bsdtar:libarchive-tools
tools:
	@missing=""; for pair in $(TOOL_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note:$$missing missing; archive checks with them are skipped"; fi; fi

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

synth: $(STAMP) node_modules/.installed
	npx cdk synth --quiet
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/Carton.template.json

deploy: $(STAMP) node_modules/.installed
	npx cdk deploy --context deletion_protection=$${CARTON_DELETION_PROTECTION:-true}

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
