# shellcheck shell=bash
# Cluster-side setup for a metrics-apiserver running on this machine next to
# the local control plane (hack/local-up.sh). All kubectl calls use the admin
# kubeconfig: $ADMIN_KUBECONFIG, else $RUN_DIR/admin.kubeconfig.
#
# Functions:
#   register_metrics_apiservice       apply hack/local/metrics-apiserver-rbac.yaml
#                                     and the rendered metrics-apiservice.yaml.
#                                     METRICS_PORT (16444): where the server
#                                     listens on 127.0.0.1; METRICS_CA_FILE:
#                                     PEM CA of its serving cert, put in
#                                     caBundle (else insecureSkipTLSVerify).
#   unregister_metrics_apiservice     delete what register_... applied
#   wait_apiservice_available TIMEOUT wait until v1beta1.metrics.k8s.io is
#                                     Available; print its condition on timeout
#   wait_default_serviceaccount NS TIMEOUT
#                                     wait for NS's "default" ServiceAccount,
#                                     which pods need and which appears async
#   render_template FILE KEY=VALUE... print FILE with each ${KEY} replaced

[[ -n "${_HACK_LIB_CLUSTER_SOURCED:-}" ]] && return 0
_HACK_LIB_CLUSTER_SOURCED=1
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

METRICS_APISERVICE=v1beta1.metrics.k8s.io

cluster_kubectl() {
  local kc=${ADMIN_KUBECONFIG:-${RUN_DIR:-$REPO_ROOT/_output/local}/admin.kubeconfig}
  [[ -f $kc ]] || die "no admin kubeconfig at $kc (run hack/local-up.sh, or set ADMIN_KUBECONFIG)"
  kubectl --kubeconfig "$kc" "$@"
}

render_template() {
  local file=$1 content kv key
  shift
  content=$(<"$file")
  for kv in "$@"; do
    key=${kv%%=*}
    # Quoted pattern and replacement: no globbing, and no "&" expansion
    # (bash 5.2 patsub_replacement) in values such as base64 text.
    content=${content//"\${$key}"/"${kv#*=}"}
  done
  if [[ $content =~ \$\{[A-Za-z_][A-Za-z0-9_]*\} ]]; then
    die "render_template $file: ${BASH_REMATCH[0]} was not given a value"
  fi
  printf '%s\n' "$content"
}

register_metrics_apiservice() {
  local port=${METRICS_PORT:-16444} tls
  [[ $port =~ ^[0-9]+$ ]] || die "METRICS_PORT=$port is not a port number"
  if [[ -n "${METRICS_CA_FILE:-}" ]]; then
    [[ -s $METRICS_CA_FILE ]] || die "METRICS_CA_FILE=$METRICS_CA_FILE is missing or empty"
    tls="caBundle: $(base64 -w0 <"$METRICS_CA_FILE")"
  else
    tls="insecureSkipTLSVerify: true"
  fi
  log_info "registering $METRICS_APISERVICE -> 127.0.0.1:$port (${tls%%:*})"
  cluster_kubectl apply -f "$REPO_ROOT/hack/local/metrics-apiserver-rbac.yaml" >/dev/null
  render_template "$REPO_ROOT/hack/local/metrics-apiservice.yaml" \
    "METRICS_PORT=$port" "APISERVICE_TLS=$tls" |
    cluster_kubectl apply -f - >/dev/null
}

unregister_metrics_apiservice() {
  cluster_kubectl delete apiservice "$METRICS_APISERVICE" --ignore-not-found >/dev/null
  cluster_kubectl -n kube-system delete service metrics-apiserver --ignore-not-found >/dev/null
  cluster_kubectl delete -f "$REPO_ROOT/hack/local/metrics-apiserver-rbac.yaml" --ignore-not-found >/dev/null
}

# _apiservice_condition prints "<status> <reason>: <message>" of Available.
_apiservice_condition() {
  cluster_kubectl get apiservice "$METRICS_APISERVICE" -o \
    jsonpath='{range .status.conditions[?(@.type=="Available")]}{.status} {.reason}: {.message}{end}' 2>/dev/null
}

wait_apiservice_available() {
  local timeout=${1:-60} deadline cond=""
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    cond=$(_apiservice_condition || true)
    [[ $cond == True* ]] && return 0
    sleep 1
  done
  log_warn "$METRICS_APISERVICE not Available after ${timeout}s: ${cond:-no status}"
  return 1
}

wait_default_serviceaccount() {
  local ns=$1 timeout=${2:-30} deadline
  deadline=$((SECONDS + timeout))
  until cluster_kubectl -n "$ns" get serviceaccount default >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log_warn "no default ServiceAccount in namespace $ns after ${timeout}s (is the serviceaccount controller running?)"
      return 1
    fi
    sleep 0.5
  done
}
