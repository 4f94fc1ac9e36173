#!/usr/bin/env bash
# Regenerates the OpenAPI definitions served for metrics.k8s.io with openapi-gen,
# pinned in go.mod's tool block and run through `go tool`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=pkg/apiserver/generated/openapi
go tool k8s.io/kube-openapi/cmd/openapi-gen \
  --output-pkg github.com/metrics-apiserver/metrics-apiserver/$out \
  --output-dir "$out" \
  --output-file zz_generated.openapi.go \
  --go-header-file hack/boilerplate.go.txt \
  --report-filename /dev/null \
  k8s.io/metrics/pkg/apis/metrics/v1beta1 \
  k8s.io/apimachinery/pkg/apis/meta/v1 \
  k8s.io/apimachinery/pkg/api/resource \
  k8s.io/apimachinery/pkg/runtime \
  k8s.io/apimachinery/pkg/version
