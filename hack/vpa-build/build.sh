#!/usr/bin/env bash
# Builds the VerticalPodAutoscaler recommender (version in ./VERSION) from the Go
# module proxy into the tool cache, outside the repository. Skips the build when
# the cached binary already embeds that version of the module.
#
# `go install k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender@VERSION`
# is refused (that module's go.mod has exclude directives), so this directory is
# a wrapper module that requires it and builds the command (see tools.go).
#
# Prints the directory holding the binary (vpa-recommender) on its last line of
# stdout. `build.sh crds` prints the path of the module's CRD manifest instead
# (deploy/vpa-v1-crd-gen.yaml in the module cache, downloaded if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(cat "$here/VERSION")
module=k8s.io/autoscaler/vertical-pod-autoscaler

if [[ ${1:-} == crds ]]; then
  dir=$(cd "$here" && GOFLAGS=-mod=mod go mod download -json "$module" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  crds="$dir/deploy/vpa-v1-crd-gen.yaml"
  [ -s "$crds" ] || { echo "no CRD manifest at $crds" >&2; exit 1; }
  echo "$crds"
  exit 0
fi

cache=${METRICS_APISERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metrics-apiserver}
out="$cache/vpa-$version/bin"
bin="$out/vpa-recommender"

# the binary's embedded build info names the module version it was built from
# (its "mod" line: the command's own module)
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|\$)"; then
  echo "$out"
  exit 0
fi

echo ">>> building the VerticalPodAutoscaler recommender $version from the Go module proxy" >&2
echo ">>> the first build takes about 5 minutes (longer on a busy machine); later runs reuse $out" >&2
mkdir -p "$out"
start=$SECONDS
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$bin.tmp" \
  "$module/pkg/recommender") >&2
mv "$bin.tmp" "$bin"
echo ">>> built in $((SECONDS - start)) s" >&2
echo "$out"
