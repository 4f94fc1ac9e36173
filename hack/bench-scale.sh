#!/usr/bin/env bash
# make bench-scale: the scale benchmark (issue 5). Brings up a fresh local
# control plane, a simulated fleet of NODES nodes with PODS_PER_NODE pods each
# (kubelet-sim fleet mode, sharded over several processes), metrics-apiserver
# registered as metrics.k8s.io and, with COMPARE=1, metrics-server v0.9.0 on
# its own port against the same fleet and apiserver with the same flags. Then
# test/scale measures both (RSS, CPU per cycle, scrape durations, freshness,
# API latencies) and writes docs/benchmarks/<date>-<nodes>.{json,md}; the PNG
# plots every result in docs/benchmarks against node count.
#
# Environment (defaults in brackets):
#   NODES [1000]  PODS_PER_NODE [30]  CONTAINERS_PER_POD [2]  COMPARE [0]
#   REGISTER_PODS [1]      create the pods in the apiserver (0: payloads only;
#                          API latencies are then skipped)
#   CYCLES [5]  METRIC_RESOLUTION [15s]  SHARD_NODES [4000] nodes per simulator
#   BENCH_NET [127.64]     first two octets of the fleet's addresses; shard k
#                          takes BENCH_NET+k (127.64.x.y, 127.65.x.y, ...)
#   OURS_ARGS, MS_ARGS     extra flags for metrics-apiserver / metrics-server
#   OURS_ENV               environment for metrics-apiserver (e.g. GOGC=50)
#   BENCH_KEEP=1           leave everything running
#   OUT_DIR [docs/benchmarks]  BENCH_NAME [<date>-<nodes>]
#   plus hack/local-up.sh's RUN_DIR, APISERVER_PORT, ETCD_PORT, ETCD_PEER_PORT,
#   KCM_PORT, and METRICS_PORT [17444], MS_PORT [METRICS_PORT+1], BIN_DIR.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export RUN_DIR=${RUN_DIR:-$REPO/_output/bench-scale}
export APISERVER_PORT=${APISERVER_PORT:-17443} ETCD_PORT=${ETCD_PORT:-17379} ETCD_PEER_PORT=${ETCD_PEER_PORT:-17380}
export KCM_PORT=${KCM_PORT:-17257} METRICS_PORT=${METRICS_PORT:-17444}
MS_PORT=${MS_PORT:-$((METRICS_PORT + 1))}
export METRIC_RESOLUTION=${METRIC_RESOLUTION:-15s} KUBELET_REQUEST_TIMEOUT=${KUBELET_REQUEST_TIMEOUT:-10s}
# Pods only need their namespace's default ServiceAccount; no controller
# watches pods or nodes (no node lifecycle: heartbeats can be rare).
export KCM_CONTROLLERS=${KCM_CONTROLLERS:-serviceaccount,serviceaccount-token,namespace}
NODES=${NODES:-1000} PODS_PER_NODE=${PODS_PER_NODE:-30} CONTAINERS_PER_POD=${CONTAINERS_PER_POD:-2}
COMPARE=${COMPARE:-0} REGISTER_PODS=${REGISTER_PODS:-1} CYCLES=${CYCLES:-5}
SHARD_NODES=${SHARD_NODES:-4000} BENCH_NET=${BENCH_NET:-127.64}
OUT_DIR=${OUT_DIR:-$REPO/docs/benchmarks}
BENCH_NAME=${BENCH_NAME:-$(date -u +%Y-%m-%d)-$NODES}
MS_VERSION=v0.9.0
MS_BIN=${XDG_CACHE_HOME:-$HOME/.cache}/metrics-apiserver/metrics-server-$MS_VERSION/bin/metrics-server

cleanup() {
  local rc=$?
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    echo ">>> BENCH_KEEP=1: left running; stop with RUN_DIR=$RUN_DIR hack/local-down.sh" >&2
  else
    STOP_GRACE=5 "$REPO/hack/local-down.sh" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

if [[ $COMPARE == 1 && ! -x $MS_BIN ]]; then
  echo ">>> installing metrics-server $MS_VERSION into $(dirname "$MS_BIN")" >&2
  GOBIN=$(dirname "$MS_BIN") CGO_ENABLED=0 go install "sigs.k8s.io/metrics-server/cmd/metrics-server@$MS_VERSION"
fi
HARNESS=$RUN_DIR/scale-harness
mkdir -p "$RUN_DIR" "$OUT_DIR"
(cd "$REPO" && go build -o "$HARNESS" ./test/scale)

SECONDS=0
"$REPO/hack/local-down.sh" >/dev/null 2>&1 || true
"$REPO/hack/local-up.sh" >/dev/null
# shellcheck source=/dev/null
source "$RUN_DIR/local.env"
# shellcheck source=hack/lib/stack.sh
source "$REPO/hack/lib/stack.sh"
log_info "control plane up after ${SECONDS}s"

# The fleet, in shards: every node holds a listener and one connection per
# scraper, and a process has at most $(ulimit -n) descriptors.
shards=$(((NODES + SHARD_NODES - 1) / SHARD_NODES))
net_a=${BENCH_NET%%.*} net_b=${BENCH_NET#*.}
register=true
[[ $REGISTER_PODS == 1 ]] || register=false
mkdir -p "$SIM_DIR"
timer_start fleet
for ((k = 0; k < shards; k++)); do
  n=$((NODES - k * SHARD_NODES))
  ((n > SHARD_NODES)) && n=$SHARD_NODES
  name=fleet$k
  rm -f "$SIM_DIR/$name.ready" "$SIM_DIR/$name.pods"
  proc_start "$name" "$LOG_DIR/$name.log" "$BIN_DIR/kubelet-sim" \
    --kubeconfig "$KUBECONFIG" --kube-api-qps 1000 --kube-api-burst 2000 --workers 16 \
    --nodes "$n" --node-prefix "$name" --address-base "$net_a.$((net_b + k)).0.1" \
    --cert-dir "$SIM_DIR/pki" --ca-out "$SIM_DIR/ca.crt" --client-ca "$PKI_DIR/ca.crt" \
    --ready-file "$SIM_DIR/$name.ready" --scheduler-name none \
    --heartbeat-interval 1h --delete-nodes-on-exit=false \
    --fleet-pods-per-node "$PODS_PER_NODE" --fleet-containers-per-pod "$CONTAINERS_PER_POD" \
    --fleet-register-pods="$register" --fleet-namespace fleet --fleet-workers 32 \
    --fleet-ready-file "$SIM_DIR/$name.pods"
done
for ((k = 0; k < shards; k++)); do
  proc_wait "fleet$k" "fleet$k nodes serving" $((120 + NODES / 20)) test -f "$SIM_DIR/fleet$k.ready"
done
log_info "$NODES nodes registered and serving after $(timer_elapsed fleet)s"
for ((k = 0; k < shards; k++)); do
  proc_wait "fleet$k" "fleet$k pods running" $((120 + NODES * PODS_PER_NODE / 50)) test -f "$SIM_DIR/fleet$k.pods"
done
log_info "$((NODES * PODS_PER_NODE)) pods metered (registered: $register) after $(timer_elapsed fleet)s"

fleet_pids=()
for ((k = 0; k < shards; k++)); do fleet_pids+=("fleet$k=$(proc_pid "fleet$k")"); done
count_objects() { # what a limit=1 list says remains, plus the one returned
  local n
  n=$(cluster_kubectl get --raw "/api/v1/$1?limit=1" | grep -o '"remainingItemCount":[0-9]*' | cut -d: -f2)
  echo $((${n:-0} + 1))
}
apiserver_objects="$(count_objects nodes) nodes, $(count_objects pods) pods"
etcd_db=$(du -sh "$RUN_DIR/etcd" 2>/dev/null | cut -f1)

# ours (the APIService), then metrics-server beside it
read -r -a ours_args <<<"${OURS_ARGS:-}"
BIN_DIR_REAL=$BIN_DIR
if [[ -n ${OURS_ENV:-} ]]; then
  # stack_start_metrics_apiserver runs $BIN_DIR/metrics-apiserver: a wrapper
  # passes OURS_ENV (e.g. GOGC=50 GOMEMLIMIT=2GiB) through env
  BIN_DIR=$RUN_DIR/ours-env
  mkdir -p "$BIN_DIR"
  printf '#!/bin/sh\nexec env %s "%s" "$@"\n' "$OURS_ENV" "$BIN_DIR_REAL/metrics-apiserver" >"$BIN_DIR/metrics-apiserver"
  chmod +x "$BIN_DIR/metrics-apiserver"
fi
timer_start ours
stack_start_metrics_apiserver --kubelet-preferred-address-types InternalIP "${ours_args[@]}"
BIN_DIR=$BIN_DIR_REAL
log_info "metrics-apiserver Available after $(timer_elapsed ours)s"
servers=(--server "metrics-apiserver=https://127.0.0.1:$METRICS_PORT,pid=$(proc_pid metrics-apiserver),histogram=metrics_apiserver_kubelet_scrape_duration_seconds")

if [[ $COMPARE == 1 ]]; then
  read -r -a ms_args <<<"${MS_ARGS:-}"
  kc=$METRICS_KUBECONFIG
  proc_start metrics-server "$LOG_DIR/metrics-server.log" "$MS_BIN" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$MS_PORT" \
    --tls-cert-file "$PKI_DIR/metrics-apiserver-serving.crt" \
    --tls-private-key-file "$PKI_DIR/metrics-apiserver-serving.key" \
    --kubelet-certificate-authority "$SIM_DIR/ca.crt" \
    --kubelet-use-node-status-port --kubelet-preferred-address-types InternalIP \
    --metric-resolution "$METRIC_RESOLUTION" --kubelet-request-timeout "$KUBELET_REQUEST_TIMEOUT" \
    "${ms_args[@]}"
  proc_wait metrics-server "metrics-server /readyz" 300 curl -skf "https://127.0.0.1:$MS_PORT/readyz"
  servers+=(--server "metrics-server=https://127.0.0.1:$MS_PORT,pid=$(proc_pid metrics-server),histogram=metrics_server_kubelet_request_duration_seconds")
fi

others="kube-apiserver=$(proc_pid kube-apiserver),etcd=$(proc_pid etcd)"
for p in "${fleet_pids[@]}"; do others+=",$p"; done
notes="Fleet: $shards kubelet-sim process(es), one TLS listener per node on $BENCH_NET.x.y:10250, gzip on, keep-alive. \
Pods registered in kube-apiserver: $register (created bound, marked Running by the simulator). \
apiserver objects: ${apiserver_objects:-n/a}; etcd data dir ${etcd_db:-n/a}. \
Both servers: same kubeconfig/identity, --kubelet-certificate-authority, --kubelet-use-node-status-port, \
--kubelet-preferred-address-types InternalIP, \
--metric-resolution $METRIC_RESOLUTION, --kubelet-request-timeout $KUBELET_REQUEST_TIMEOUT. \
ours extra: '${OURS_ARGS:-}' env '${OURS_ENV:-}'; metrics-server extra: '${MS_ARGS:-}'."
"$HARNESS" "${servers[@]}" --others "$others" \
  --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" --ca "$PKI_DIR/ca.crt" \
  --nodes "$NODES" --pods-per-node "$PODS_PER_NODE" --containers-per-pod "$CONTAINERS_PER_POD" \
  --pods-registered="$register" --resolution "$METRIC_RESOLUTION" --cycles "$CYCLES" \
  --out "$OUT_DIR/$BENCH_NAME" --notes "$notes"
(cd "$REPO/test/scale/plot" && go run . -dir "$OUT_DIR" -out "$OUT_DIR/$BENCH_NAME.png")
log_info "wrote $OUT_DIR/$BENCH_NAME.{json,md,png} after ${SECONDS}s"
