#!/usr/bin/env bash
# make test-e2e: brings up a fresh local control plane (etcd, kube-apiserver,
# kube-controller-manager), kubelet-sim with three nodes and metrics-apiserver
# registered as metrics.k8s.io, runs the Go end-to-end tests in test/e2e
# against them with the real kubectl, and tears everything down on exit.
#
# Environment: E2E_RUN (go test -run filter), E2E_KEEP=1 (leave the cluster up),
# E2E_NET (first two octets of the simulated kubelets' addresses, 127.0),
# E2E_TIMEOUT (go test -timeout, 30m), E2E_VPA_BIN_DIR (a built vpa-recommender,
# else hack/vpa-build/build.sh builds it), plus hack/local-up.sh's variables.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export RUN_DIR=${RUN_DIR:-$REPO/_output/e2e}
export APISERVER_PORT=${APISERVER_PORT:-18443} ETCD_PORT=${ETCD_PORT:-14379} ETCD_PEER_PORT=${ETCD_PEER_PORT:-14380}
export KCM_PORT=${KCM_PORT:-22257} METRICS_PORT=${METRICS_PORT:-18444}
export METRIC_RESOLUTION=${METRIC_RESOLUTION:-5s}
# simulated kubelets listen on $E2E_NET.X.Y:10250; another run beside this one
# needs its own E2E_NET (e.g. 127.1) as well as its own ports and RUN_DIR
export E2E_NET=${E2E_NET:-127.0}

cleanup() {
  local rc=$?
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    echo ">>> E2E_KEEP=1: cluster left running; stop it with RUN_DIR=$RUN_DIR hack/local-down.sh" >&2
  else
    "$REPO/hack/local-down.sh" >/dev/null 2>&1 || true
  fi
  if ((rc != 0)) && [[ -d $RUN_DIR/logs ]]; then
    for f in "$RUN_DIR"/logs/*.log; do
      echo "----- last lines of $f" >&2
      tail -n 15 "$f" >&2
    done
  fi
  exit "$rc"
}
trap cleanup EXIT

# the VerticalPodAutoscaler recommender for test/e2e/vpa_test.go, built once into
# the tool cache (about 5 minutes cold); E2E_VPA_BIN_DIR set beforehand skips this
E2E_VPA_BIN_DIR=${E2E_VPA_BIN_DIR:-$("$REPO/hack/vpa-build/build.sh" | tail -n 1)}
export E2E_VPA_BIN_DIR

SECONDS=0
"$REPO/hack/verify-server-deps.sh" "${BIN_DIR:-$REPO/_output/bin}/metrics-apiserver"
"$REPO/hack/local-down.sh" >/dev/null 2>&1 || true # a previous run's leftovers
# tracing and audit (test/e2e/observability_test.go): an OTLP receiver, up before
# kube-apiserver, and the kube-apiserver/metrics-apiserver/kubelet-sim flags for it
# shellcheck source=hack/lib/observability.sh
source "$REPO/hack/lib/observability.sh"
obs_setup
"$REPO/hack/local-up.sh" >/dev/null
# shellcheck source=/dev/null
source "$RUN_DIR/local.env"
# shellcheck source=hack/lib/stack.sh
source "$REPO/hack/lib/stack.sh"

stack_start_sim e2e-node 3 "$E2E_NET.20.1" "${OBS_SIM_ARGS[@]}"
# readiness needs one pod with data: a baseline pod on the first node
cluster_kubectl apply -f "$REPO/test/e2e/testdata/baseline.yaml" >/dev/null
stack_start_metrics_apiserver "${OBS_METRICS_APISERVER_ARGS[@]}"
log_info "stack up after ${SECONDS}s; running test/e2e"

export E2E_KUBECONFIG=$KUBECONFIG E2E_RUN_DIR=$RUN_DIR E2E_PKI_DIR=$PKI_DIR E2E_SIM_DIR=$SIM_DIR
export E2E_BIN_DIR=$BIN_DIR E2E_METRICS_PORT=$METRICS_PORT E2E_RESOLUTION=$METRIC_RESOLUTION E2E_LOG_DIR=$LOG_DIR
export E2E_OBS_DIR=$OBS_DIR
cd "$REPO"
go test -count=1 -v -timeout "${E2E_TIMEOUT:-30m}" ${E2E_RUN:+-run "$E2E_RUN"} ./test/e2e/
