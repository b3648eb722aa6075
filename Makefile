# Gantry — run `make` for the list of targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/gantry
# golangci-lint, pinned and run through `go run` (nothing to install); its config is .golangci.yml.
GOLANGCI_LINT := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Extra flags for `make run`, e.g. make run ARGS="--addr 127.0.0.1:9000".
ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/gantry (server and CLI)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/gantry

.PHONY: run
run: build ## Build and start the server on 127.0.0.1:8080 with data in ./data
	./$(BIN) server $(ARGS)

.PHONY: images
images: ## Build the function images of the README: gantry/hello, hello-http, hello-json, testfn (tag :dev; needs Docker)
	$(GO) run ./internal/fnimage/cmd/build-images -tag-suffix dev hello hello-http hello-json testfn

# The PostgreSQL tests read GANTRY_TEST_POSTGRES; `make test` starts the throwaway cluster of
# `make postgres` for them when the variable is unset and PostgreSQL's server is installed.
PG_AVAILABLE := $(shell ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && echo yes)

.PHONY: test
test: ## Run all tests (unit, integration, black-box, multi-node on PostgreSQL, fuzz seed corpora) with the race detector, then test-vault
	@if [ -z "$$GANTRY_TEST_POSTGRES" ] && [ "$(PG_AVAILABLE)" = yes ]; then \
		export GANTRY_TEST_POSTGRES=$$(scripts/test-postgres) || exit 1; \
		echo "GANTRY_TEST_POSTGRES=$$GANTRY_TEST_POSTGRES (make postgres-stop stops it)"; \
	fi; \
	$(GO) test -race -count=1 -timeout 20m ./... && \
	$(MAKE) --no-print-directory test-vault

# The Vault module is not built with -race: Vault's own packages make a cold race build take
# over 15 minutes; the code under test is race-tested in ./secrets against a fake Vault.
.PHONY: test-vault
test-vault: ## Test the Vault secret backend and the server against a real in-process Vault (module test/vault; a cold build takes minutes)
	cd test/vault && $(GO) test -count=1 ./...

.PHONY: postgres
postgres: ## Start a throwaway PostgreSQL on 127.0.0.1:55432 (data in /tmp/gantry-postgres) and print its DSN for GANTRY_TEST_POSTGRES
	@scripts/test-postgres

.PHONY: postgres-stop
postgres-stop: ## Stop the throwaway PostgreSQL of `make postgres`
	@scripts/test-postgres stop

.PHONY: bench
bench: build ## Run the benchmarks: store micro-benchmarks (bbolt, PostgreSQL), then gantry-bench (ratios vs baselines; needs Docker and PostgreSQL's server)
	@# A PostgreSQL of its own with fsync on (the tests' runs without), as bbolt's fsync is measured.
	export GANTRY_BENCH_POSTGRES=$$(GANTRY_PG_DURABLE=1 scripts/test-postgres start /tmp/gantry-postgres-bench 55433) && \
	$(GO) test -run '^$$' -bench . -benchmem ./store/bolt/ && \
	GANTRY_TEST_POSTGRES=$$GANTRY_BENCH_POSTGRES $(GO) test -run '^$$' -bench . -benchmem ./store/postgres/ && \
	$(GO) test -run '^$$' -bench . -benchmem ./auth/ && \
	$(GO) test -run '^$$' -bench . -benchmem ./gateway/ && \
	$(GO) test -run '^$$' -bench . -benchmem ./console/ && \
	$(GO) run ./cmd/gantry-bench -gantry $(BIN) -postgres "$$GANTRY_BENCH_POSTGRES"

.PHONY: screenshots
screenshots: ## Retake the console's screenshots of docs/screenshots (the browser tests, with Chromium and Docker)
	GANTRY_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'TestConsoleInABrowser' ./cmd/gantry/

.PHONY: generate
generate: ## Regenerate gen/ from swagger/swagger.yml, gen/waas/ from swagger/waas.yml and gen/ironfunctions/ from swagger/ironfunctions.yml (pinned go-swagger via go run)
	$(GO) generate ./swagger

.PHONY: check-generate
check-generate: generate ## Fail if gen/ (gen/waas/ and gen/ironfunctions/ included) differs from what the swagger/*.yml specs generate
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is out of date with swagger/*.yml: run 'make generate' and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard gen/); if [ -n "$$untracked" ]; then echo "untracked generated files: $$untracked"; exit 1; fi

.PHONY: lint
lint: ## golangci-lint (govet, staticcheck, errcheck, ineffassign, unused, gosec; .golangci.yml), and gofmt on hand-written code
	$(GOLANGCI_LINT) run ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

.PHONY: fmt
fmt: ## gofmt hand-written code
	gofmt -w $$(git ls-files '*.go' | grep -v '^gen/')

.PHONY: clean
clean: ## Remove build output (not ./data)
	rm -rf bin
