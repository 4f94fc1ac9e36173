# metrics-apiserver — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG := github.com/metrics-apiserver/metrics-apiserver
LDFLAGS := -s -w -X $(PKG)/pkg/version.gitVersion=$(VERSION) -X $(PKG)/pkg/version.gitCommit=$(COMMIT) -X $(PKG)/pkg/version.buildDate=$(BUILD_DATE)
OUT := _output/bin
UNIT_PKGS := ./pkg/... ./cmd/... ./test/kubeletsim/...

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build metrics-apiserver and kubelet-sim into _output/bin.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(OUT)/ ./cmd/metrics-apiserver ./cmd/kubelet-sim

.PHONY: test
test: test-unit test-e2e ## Unit tests, then end-to-end tests against a real control plane.

.PHONY: test-unit
test-unit: ## Unit tests (race detector on), under two minutes.
	$(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: test-e2e
test-e2e: build ## End-to-end tests: etcd + kube-apiserver + kube-controller-manager + kubelet-sim + metrics-apiserver + kubectl.
	hack/e2e.sh

.PHONY: bench
bench: ## Decoder, store and API benchmarks (compare runs with benchstat).
	$(GO) test -run '^$$' -bench . -benchmem -count=$${COUNT:-1} ./pkg/kubelet ./pkg/storage ./pkg/api

.PHONY: fuzz
fuzz: ## Fuzz the kubelet decoder (FUZZTIME, default 5m).
	$(GO) test ./pkg/kubelet -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-5m}

.PHONY: verify
verify: ## gofmt, go vet, and generated files up to date.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	hack/verify-openapi.sh
	hack/verify-flags.sh

.PHONY: update
update: ## Regenerate generated files (OpenAPI, docs/command-line-flags.txt).
	hack/update-openapi.sh
	hack/update-flags.sh

.PHONY: demo
demo: build ## Local cluster + kubelet-sim + metrics-apiserver registered; prints kubectl top.
	hack/demo.sh up

.PHONY: demo-down
demo-down: ## Stop everything `make demo` started.
	hack/demo.sh down
