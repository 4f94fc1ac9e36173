#!/usr/bin/env bash
# Fails when manifests/components.yaml, manifests/high-availability.yaml or the
# chart README's values table differ from what hack/update-manifests.sh makes.
# Renders into a temporary directory and compares, so it works before the
# generated files are known to git.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OUT_DIR=$tmp SKIP_CHART_README=1 hack/update-manifests.sh
rc=0
for f in components.yaml high-availability.yaml; do
  if ! diff -u "manifests/$f" "$tmp/$f"; then
    echo "manifests/$f is stale: run hack/update-manifests.sh and commit" >&2
    rc=1
  fi
done
# the test fails, with a diff, when the README's values table is stale
(cd test/deploy && go test -count=1 -run '^TestChartREADME$' .) >"$tmp/readme.log" 2>&1 || {
  cat "$tmp/readme.log" >&2
  echo "charts/metrics-apiserver/README.md is stale: run hack/update-manifests.sh and commit" >&2
  rc=1
}
exit "$rc"
