# shellcheck shell=bash
# Tracing and audit for the end-to-end stack (test/e2e/observability_test.go).
# Call obs_setup before hack/local-up.sh: it starts an OTLP/gRPC trace
# receiver (test/otlpreceiver/cmd/otlp-receiver) on 127.0.0.1 with a port of
# its own choosing, registered with proc_start so hack/local-down.sh stops it,
# and writes into RUN_DIR/observability:
#
#   otlp.addr                          the receiver's host:port
#   spans.jsonl                        every span it receives, one JSON line each
#   kube-apiserver-tracing.yaml        TracingConfiguration v1, every request sampled
#   metrics-apiserver-tracing.yaml     the same, for metrics-apiserver
#   audit-policy.yaml                  Metadata level for metrics.k8s.io, nothing else
#   kube-apiserver-audit.log, metrics-apiserver-audit.log   (written by the servers)
#
# The receiver runs before kube-apiserver starts, so no exporter ever retries
# against a closed port (gRPC backs off for up to two minutes).
#
# Results: APISERVER_EXTRA_ARGS gains kube-apiserver's --tracing-config-file,
# --audit-policy-file and --audit-log-path (exported); the arrays
# OBS_METRICS_APISERVER_ARGS (for stack_start_metrics_apiserver) and
# OBS_SIM_ARGS (for stack_start_sim: --log-traceparent); OBS_DIR.
#
# Environment: RUN_DIR (required), REPO_ROOT.

[[ -n "${_HACK_LIB_OBSERVABILITY_SOURCED:-}" ]] && return 0
_HACK_LIB_OBSERVABILITY_SOURCED=1
# shellcheck source=hack/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

obs_setup() {
  RUN_DIR=$(mkdir -p "${RUN_DIR:?}" && cd "$RUN_DIR" && pwd)
  OBS_DIR=$RUN_DIR/observability
  local logs=$RUN_DIR/logs
  mkdir -p "$OBS_DIR" "$logs"
  rm -f "$OBS_DIR/otlp.addr" "$OBS_DIR/spans.jsonl" "$OBS_DIR"/*-audit.log
  (cd "$REPO_ROOT" && CGO_ENABLED=0 go build -o "$OBS_DIR/otlp-receiver" ./test/otlpreceiver/cmd/otlp-receiver) ||
    die "building the OTLP receiver failed"
  proc_start otlp-receiver "$logs/otlp-receiver.log" "$OBS_DIR/otlp-receiver" \
    --listen 127.0.0.1:0 --addr-file "$OBS_DIR/otlp.addr" --out "$OBS_DIR/spans.jsonl"
  proc_wait otlp-receiver "OTLP receiver address" 30 test -s "$OBS_DIR/otlp.addr"
  local addr
  addr=$(<"$OBS_DIR/otlp.addr")

  local who
  for who in kube-apiserver metrics-apiserver; do
    cat >"$OBS_DIR/$who-tracing.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: TracingConfiguration
endpoint: $addr
samplingRatePerMillion: 1000000
EOF
  done
  cat >"$OBS_DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - group: metrics.k8s.io
- level: None
EOF
  APISERVER_EXTRA_ARGS="${APISERVER_EXTRA_ARGS:-} --tracing-config-file $OBS_DIR/kube-apiserver-tracing.yaml"
  APISERVER_EXTRA_ARGS+=" --audit-policy-file $OBS_DIR/audit-policy.yaml --audit-log-path $OBS_DIR/kube-apiserver-audit.log"
  export APISERVER_EXTRA_ARGS OBS_DIR
  # shellcheck disable=SC2034 # results for the caller
  OBS_METRICS_APISERVER_ARGS=(
    --tracing-config-file "$OBS_DIR/metrics-apiserver-tracing.yaml"
    --audit-policy-file "$OBS_DIR/audit-policy.yaml" --audit-log-path "$OBS_DIR/metrics-apiserver-audit.log"
  )
  # shellcheck disable=SC2034
  OBS_SIM_ARGS=(--log-traceparent)
  log_info "OTLP receiver on $addr; spans in $OBS_DIR/spans.jsonl"
}
