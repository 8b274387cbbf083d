# Carton: `make run` (local stack) and `make test` (everything CI runs).
SHELL := /bin/bash
# The Lambda runtime's Python (one file, read by CDK too): the tests run under the same
# version when this machine has it (on PATH, or installed by pyenv), else under python3.
LAMBDA_PYTHON := $(shell cat layers/python-version)
PYTHON ?= $(shell for candidate in python$(LAMBDA_PYTHON) \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(LAMBDA_PYTHON).*/bin/python$(LAMBDA_PYTHON) 2>/dev/null | sort -V | tail -1); do \
	"$$candidate" -c '' 2>/dev/null && { echo "$$candidate"; exit; }; done; echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help account run test lint types unit integration infra e2e tools synth deploy bench clean fuzz
.DEFAULT_GOAL := help

help: ## this list
	@echo "make <target>:"; grep -hE '^[a-z][a-z0-9 -]*:.*## ' $(MAKEFILE_LIST) | \
	  awk -F ':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'

# First use (or a changed dependency list): create .venv and install Carton with its
# development and CDK dependencies.
$(STAMP): pyproject.toml layers/deps/requirements.txt layers/python-version
	@want=$$($(PYTHON) -c 'import sys; print(sys.version_info[:2])'); \
	have=$$($(BIN)/python -c 'import sys; print(sys.version_info[:2])' 2>/dev/null); \
	if [ "$$want" != "$$have" ]; then rm -rf $(VENV); echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The local stack keeps its state in $CARTON_HOME/state (default .carton/state; the banner
# shows where): a restart finds users, keys, assets, downloads and archives again.
run: $(STAMP) ## the local stack (FLAGS=--quiet: no request/step lines; FLAGS=--verbose: the functions' JSON logs too)
	$(BIN)/python -m carton_local $(FLAGS)

# Empty the local stack's state directory (refused while a stack runs on it): the next
# `make run` starts afresh.
.PHONY: reset
reset: $(STAMP) ## empty the local stack's state directory
	$(BIN)/python -m carton_local --reset

test: $(STAMP) tools lint types ## lint, types and every test CI runs
	$(BIN)/pytest

lint: $(STAMP) ## ruff check, ruff format --check and actionlint (the GitHub Actions workflows)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint

types: $(STAMP) ## mypy
	$(BIN)/mypy

unit integration infra e2e: $(STAMP) tools ## one suite of tests
	$(BIN)/pytest tests/$@

# `make test` fuzzes the API against its OpenAPI document with a small fixed budget; this runs
# FUZZ_EXAMPLES generated requests per operation with a new seed each time (it prints it:
# FUZZ_SEED=<seed> replays a failure) on its own local stack.
FUZZ_EXAMPLES ?= 500
fuzz: $(STAMP) ## fuzz the API against its OpenAPI document (FUZZ_EXAMPLES per operation, FUZZ_SEED to replay)
	@seed=$${FUZZ_SEED:-$$RANDOM$$RANDOM}; echo "fuzz: $(FUZZ_EXAMPLES) examples per operation, FUZZ_SEED=$$seed"; \
	CARTON_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CARTON_FUZZ_SEED=$$seed $(BIN)/pytest tests/e2e/test_fuzz.py -rA

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

# synth, deploy and destroy: the stack is named by CARTON_STACK (default Carton; app.py
# reads it), and CARTON_CONTEXT holds the deploy-time settings (infra/settings.py) as
# key=value pairs separated by spaces, a value with spaces in shell quotes, e.g.
#   CARTON_CONTEXT="cors_origins=https://app.example mail_from='Carton <no-reply@x.example>'" make deploy
# Each pair reaches the CDK CLI as one `--context key=value` (infra/context.py quotes them).
STACK = $(or $(CARTON_STACK),Carton)
cdk = context=$$($(BIN)/python -m infra.context) && echo "npx cdk $(1) $$context" && \
	eval "CARTON_STACK=$(STACK) npx cdk $(1) $$context"

# cfn-lint checks every template of the stack, its nested stacks' included.
synth: $(STAMP) node_modules/.installed ## CDK synth, cdk-nag and cfn-lint (CARTON_CONTEXT: deploy settings)
	@$(call cdk,synth --quiet)
	@templates=$$($(BIN)/python -m infra.templates cdk.out $(STACK)) && set -x && \
	$(BIN)/cfn-lint --ignore-checks W3005 -- $$templates

deploy: $(STAMP) node_modules/.installed ## deploy the stack CARTON_STACK (default Carton) to AWS
	@$(call cdk,deploy $(STACK) --context deletion_protection=$${CARTON_DELETION_PROTECTION:-true})

# Removing a stack needs no sender (email=off unless CARTON_CONTEXT says otherwise); cdk asks
# before it deletes, CARTON_DESTROY_FORCE=1 does not. Retained data (table, assets, logs) stays.
.PHONY: destroy
destroy: $(STAMP) node_modules/.installed ## remove the deployed stack (asks first)
	@$(call cdk,destroy $(STACK) --context email=off $${CARTON_DESTROY_FORCE:+--force})

# The role GitHub Actions deploys with (OIDC, no stored keys), trusted by GITHUB_REPO's workflows
# only: once per AWS account and region, with administrator credentials, after `cdk bootstrap`.
# Its RoleArn output is the repository variable AWS_DEPLOY_ROLE_ARN. An account holds one GitHub
# OIDC provider: when it already has one, name it with GITHUB_OIDC_PROVIDER_ARN=<its ARN>.
.PHONY: deploy-role
deploy-role: $(STAMP) node_modules/.installed ## the GitHub Actions deploy role: make deploy-role GITHUB_REPO=<owner>/<name>
	@$(BIN)/python -m infra.deploy_role --check "$$GITHUB_REPO"
	npx cdk deploy --app '$(BIN)/python -m infra.deploy_role' --output cdk.out/deploy-role \
	  --context github_repo="$$GITHUB_REPO" \
	  $${GITHUB_OIDC_PROVIDER_ARN:+--context github_oidc_provider_arn="$$GITHUB_OIDC_PROVIDER_ARN"}

# A new account, its first admin and a key (printed once), on the running local stack or,
# with CARTON_STACK=<stack name>, on a deployed one (IAM-only admin function).
account: $(STAMP) ## a new account and its admin key: make account ACCOUNT=<name> EMAIL=<admin e-mail>
	@$(BIN)/python -m carton_ops.account --account "$(ACCOUNT)" --email "$(EMAIL)"

bench: $(STAMP) ## the benchmarks (python -m benchmarks <name> runs one)
	$(BIN)/python -m benchmarks

clean: ## remove .venv, node_modules and caches
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
