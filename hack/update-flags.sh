#!/usr/bin/env bash
# Regenerates docs/command-line-flags.txt, the golden `metrics-apiserver --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs
# a fixed terminal width keeps the golden file stable
COLUMNS=100 go run ./cmd/metrics-apiserver --help > docs/command-line-flags.txt
