#!/usr/bin/env bash
# Fails when the server binary links test-only modules: cAdvisor (used by
# kubelet-sim to read this machine's cgroups) or the project's test tooling.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-_output/bin/metrics-apiserver}
[[ -x $bin ]] || { echo "no binary at $bin (run make build)" >&2; exit 1; }
if go version -m "$bin" | grep -E 'github.com/google/cadvisor|/test/kubeletsim'; then
  echo "$bin links test-only code (above)" >&2
  exit 1
fi
echo "$bin: no cAdvisor, no test tooling"
