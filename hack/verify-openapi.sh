#!/usr/bin/env bash
# Fails when the committed OpenAPI definitions differ from what openapi-gen produces.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/update-openapi.sh
git diff --exit-code -- pkg/apiserver/generated/openapi || {
  echo "generated OpenAPI is stale: run hack/update-openapi.sh and commit" >&2; exit 1; }
