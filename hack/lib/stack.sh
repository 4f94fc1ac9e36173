# shellcheck shell=bash
# Runs this project's own processes next to the local control plane
# (hack/local-up.sh): the kubelet simulator and metrics-apiserver, registered
# as the metrics.k8s.io APIService. Shared by hack/demo.sh and hack/e2e.sh.
# Source RUN_DIR/local.env first.
#
# Functions:
#   stack_start_sim NAME NODES ADDRESS_BASE [ARG...]
#                               start kubelet-sim as process NAME with NODES
#                               nodes from ADDRESS_BASE (127.x.y.z); waits until
#                               its nodes are registered and serving
#   stack_start_metrics_apiserver [ARG...]
#                               start metrics-apiserver on 127.0.0.1:$METRICS_PORT
#                               as its own least-privilege user, register the
#                               APIService, wait until it is Available
#
# Environment: BIN_DIR (built binaries, _output/bin), METRICS_PORT (16444),
# METRIC_RESOLUTION (15s).

[[ -n "${_HACK_LIB_STACK_SOURCED:-}" ]] && return 0
_HACK_LIB_STACK_SOURCED=1
# shellcheck source=hack/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/proc.sh"
# shellcheck source=hack/lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

: "${BIN_DIR:=$REPO_ROOT/_output/bin}"
: "${METRICS_PORT:=16444}"
: "${METRIC_RESOLUTION:=15s}"
SIM_DIR=${RUN_DIR:?source RUN_DIR/local.env first}/kubelet-sim
export METRICS_PORT SIM_DIR

stack_start_sim() {
  local name=$1 nodes=$2 base=$3
  shift 3
  mkdir -p "$SIM_DIR"
  rm -f "$SIM_DIR/$name.ready"
  proc_start "$name" "$LOG_DIR/$name.log" "$BIN_DIR/kubelet-sim" \
    --kubeconfig "$KUBECONFIG" \
    --nodes "$nodes" --node-prefix "$name" --address-base "$base" \
    --cert-dir "$SIM_DIR/pki" --ca-out "$SIM_DIR/ca.crt" \
    --client-ca "$PKI_DIR/ca.crt" \
    --ready-file "$SIM_DIR/$name.ready" "$@"
  proc_wait "$name" "$name nodes serving" 60 test -f "$SIM_DIR/$name.ready"
}

stack_start_metrics_apiserver() {
  local kc=$METRICS_KUBECONFIG
  # its RBAC first: it reads the request-header CA and lists nodes at start
  cluster_kubectl apply -f "$REPO_ROOT/hack/local/metrics-apiserver-rbac.yaml" >/dev/null
  proc_start metrics-apiserver "$LOG_DIR/metrics-apiserver.log" "$BIN_DIR/metrics-apiserver" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$METRICS_PORT" \
    --tls-cert-file "$PKI_DIR/metrics-apiserver-serving.crt" \
    --tls-private-key-file "$PKI_DIR/metrics-apiserver-serving.key" \
    --kubelet-certificate-authority "$SIM_DIR/ca.crt" \
    --kubelet-use-node-status-port \
    --metric-resolution "$METRIC_RESOLUTION" --kubelet-request-timeout "${KUBELET_REQUEST_TIMEOUT:-3s}" "$@"
  # "ready" means informers synced and data for a node and a pod scraped
  proc_wait metrics-apiserver "metrics-apiserver /readyz" 120 \
    curl -skf "https://127.0.0.1:$METRICS_PORT/readyz"
  METRICS_CA_FILE=$PKI_DIR/ca.crt register_metrics_apiservice
  wait_apiservice_available 60
}
