#!/usr/bin/env bash
# Fails when docs/command-line-flags.txt differs from `metrics-apiserver --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/update-flags.sh
git diff --exit-code -- docs/command-line-flags.txt || {
  echo "docs/command-line-flags.txt is stale: run hack/update-flags.sh and commit" >&2; exit 1; }
