# cnpg-guard — build, test and operate the shared-cluster contract guard.
CARGO   ?= cargo
KUBECTL ?= kubectl
BIN     := target/release/cnpg-guard

.DEFAULT_GOAL := help

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Build the release binary
	$(CARGO) build --release --locked

run: ## Run the webhook locally (embedded contract, self-signed dev certificate)
	$(CARGO) run --release --locked -- serve

test: ## Run all tests (unit, rules, CLI, webhook over HTTPS)
	$(CARGO) test --locked --all-targets

lint: ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

check: build ## Check the shipped example manifests (good must pass, bad must be denied)
	$(BIN) check deploy/examples/good
	! $(BIN) check deploy/examples/bad >/dev/null

.PHONY: help build run test lint check
