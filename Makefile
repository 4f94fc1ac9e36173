# metrics-apiserver — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG := github.com/metrics-apiserver/metrics-apiserver
LDFLAGS := -s -w -X $(PKG)/pkg/version.gitVersion=$(VERSION) -X $(PKG)/pkg/version.gitCommit=$(COMMIT) -X $(PKG)/pkg/version.buildDate=$(BUILD_DATE)
OUT := _output/bin
UNIT_PKGS := ./pkg/... ./cmd/... ./test/kubeletsim/... ./test/otlpreceiver/... ./test/scale

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build metrics-apiserver and kubelet-sim into _output/bin.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(OUT)/ ./cmd/metrics-apiserver ./cmd/kubelet-sim

.PHONY: test
test: test-unit test-deploy test-e2e ## Unit tests, chart/manifest tests, then end-to-end tests against a real control plane.

.PHONY: test-unit
test-unit: ## Unit tests (race detector on), under two minutes.
	$(GO) test -race -count=1 $(UNIT_PKGS)

.PHONY: test-deploy
test-deploy: ## Render the Helm chart and manifests with Helm's Go packages and decode every object strictly.
	cd test/deploy && $(GO) test -count=1 ./...

.PHONY: test-e2e
test-e2e: build ## End-to-end tests: etcd + kube-apiserver + kube-controller-manager + kubelet-sim + metrics-apiserver + kubectl.
	hack/e2e.sh

.PHONY: bench
bench: ## Decoder, store and API benchmarks (compare runs with benchstat).
	$(GO) test -run '^$$' -bench . -benchmem -count=$${COUNT:-1} ./pkg/kubelet ./pkg/storage ./pkg/api ./pkg/apiserver

.PHONY: bench-scale
bench-scale: build ## Scale benchmark: NODES (1000) x PODS_PER_NODE (30) simulated; COMPARE=1 runs metrics-server v0.9.0 beside it. Writes docs/benchmarks/.
	NODES=$${NODES:-1000} PODS_PER_NODE=$${PODS_PER_NODE:-30} COMPARE=$${COMPARE:-0} BIN_DIR=$${BIN_DIR:-$(CURDIR)/$(OUT)} hack/bench-scale.sh

.PHONY: fuzz
fuzz: ## Fuzz the kubelet decoder (FUZZTIME, default 5m).
	$(GO) test ./pkg/kubelet -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-5m}

.PHONY: vulncheck
vulncheck: ## govulncheck (go tool) on both modules; VULNDB=file:///dir for an offline copy of the database.
	$(GO) tool govulncheck $${VULNDB:+-db $$VULNDB} ./...
	$(GO) tool govulncheck $${VULNDB:+-db $$VULNDB} -C test/deploy ./...

.PHONY: reliability
reliability: build ## Run the fault and security e2e tests and regenerate docs/reliability.md from them.
	hack/update-reliability.sh

.PHONY: verify
verify: ## gofmt, go vet, and generated files up to date.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cd test/deploy && $(GO) vet ./...
	hack/verify-openapi.sh
	hack/verify-flags.sh
	hack/verify-manifests.sh
	$(MAKE) build && hack/verify-server-deps.sh

.PHONY: update
update: ## Regenerate generated files (OpenAPI, golden --help, rendered manifests).
	hack/update-openapi.sh
	hack/update-flags.sh
	hack/update-manifests.sh

IMAGE ?= ghcr.io/metrics-apiserver/metrics-apiserver:$(VERSION)
.PHONY: image
image: ## Build the container image (needs a Docker engine with buildx; none runs in CI here).
	docker buildx build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) -t $(IMAGE) .

.PHONY: demo
demo: build ## Local cluster + kubelet-sim + metrics-apiserver registered; prints kubectl top.
	hack/demo.sh up

.PHONY: demo-down
demo-down: ## Stop everything `make demo` started.
	hack/demo.sh down
